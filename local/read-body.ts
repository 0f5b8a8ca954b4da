import type { IncomingMessage } from 'node:http';

/** A body over the limit: refused from its Content-Length, or as soon as it grows past it. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(
    readonly limit: number,
    /** Refused from its Content-Length: not a byte of it was read. */
    readonly declared: boolean,
  ) {
    super(`body: larger than ${limit} bytes`);
  }
}

/**
 * The request body's exact bytes. Beyond `limit` it is refused without being kept: at
 * once when the Content-Length says so, else as soon as the bytes pass it, so an
 * endless body costs no more memory than the limit. The rest is drained and dropped,
 * so the sender reads the answer instead of a reset connection.
 */
export function readBody(
  request: IncomingMessage,
  limit = Number.POSITIVE_INFINITY,
): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new BodyTooLargeError(limit, true));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      request.off('data', onData).off('end', onEnd).off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop();
        chunks.length = 0;
        request.resume();
        reject(new BodyTooLargeError(limit, false));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    request.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
