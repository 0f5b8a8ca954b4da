import type { IncomingMessage } from 'node:http';

/**
 * The request's URL, or why it is not one a route can read: a request target that is
 * not a URL (`//`), or a percent-encoding that does not decode (`%zz`, `%FF`) in the
 * path or the query. The local runtime answers those 400 instead of failing later.
 */
export function requestTarget(
  request: IncomingMessage,
): { readonly url: URL } | { readonly refused: string } {
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://localhost');
  } catch {
    return { refused: 'path: not a valid request target' };
  }
  if (!decodes(url.pathname)) return { refused: 'path: not valid percent-encoding' };
  if (!decodes(url.search.replace(/\+/g, ' '))) {
    return { refused: 'query: not valid percent-encoding' };
  }
  return { url };
}

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
