/**
 * The parsed value of a body, or undefined when it is not JSON: the zod schema that reads
 * it next then refuses it as it refuses any other wrong shape, with one message.
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
