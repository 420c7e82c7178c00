// A URL path as the receivers behind it commonly read it, for telling whether a target may
// reach a receiver one client owns: spellings that differ as text but not to a web server.

/**
 * `path` with the differences receivers commonly ignore taken out: percent-encoding
 * (`/%68ooks` is `/hooks`), path parameters (`/hooks;x`, which servlet containers drop), case
 * (`/HOOKS`, as ASP.NET and IIS route), trailing dots and spaces of a segment (`/hooks.`, as
 * Windows reads a name) and a trailing slash (`/hooks/` is `/hooks` to most routers). Each
 * segment is kept apart: the target's path has been checked for encoded separators already.
 */
export function receiverPath(path: string): string {
  const segments = path.split("/").map(readSegment);
  while (segments.length > 0 && segments[segments.length - 1] === "") segments.pop();
  return segments.join("/");
}

function readSegment(segment: string): string {
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // An entry's path is not checked as a target's is: read it as written.
  }
  const name = decoded.split(";")[0].normalize("NFKC").toLowerCase();
  let end = name.length;
  while (end > 0 && (name[end - 1] === "." || name[end - 1] === " ")) end--;
  return name.slice(0, end);
}

/** Whether `path`, read as receivers read it, is `prefix` or below it (both receiverPath). */
export function pathReaches(prefix: string, path: string): boolean {
  const under = receiverPath(prefix);
  const read = receiverPath(path);
  return under === "" || read === under || read.startsWith(`${under}/`);
}
