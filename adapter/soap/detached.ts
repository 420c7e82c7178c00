// Copies of strings that outlive the document they were read from. V8 may keep a substring as
// a view into its whole source; a remembered name or namespace must not keep a request alive.

/** `text` with storage of its own, never a view into a larger string. */
export function detached(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}
