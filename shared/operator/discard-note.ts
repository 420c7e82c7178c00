// A bulk discard's note: why the operator drops these dead letters for good, in their own words.
// Required, so the journal answers "why were 5 000 dead letters of backend B discarded?" as well
// as who did it; bounded, so it fits the journal's target beside the selection.

/** The longest note taken: with the selection it stays within a journal field (512). */
export const DISCARD_NOTE_MAX = 200;

/** The note as given, trimmed, or why it is refused. */
export function checkedNote(raw: unknown): string | { problem: string } {
  if (raw === undefined || raw === null) {
    return { problem: "a bulk discard needs a note: why these dead letters are discarded" };
  }
  if (typeof raw !== "string") return { problem: "note is a string" };
  const note = raw.trim();
  if (note === "") {
    return { problem: "a bulk discard needs a note: why these dead letters are discarded" };
  }
  if (note.length > DISCARD_NOTE_MAX) {
    return { problem: `note is at most ${DISCARD_NOTE_MAX} characters, not ${note.length}` };
  }
  return note;
}

/**
 * A bulk discard's body split into its note (checked) and the rest, the bulk replay's
 * selection, which is checked as a replay's is. A body that is no object is left whole for that
 * check to refuse.
 */
export function discardNote(body: unknown): {
  note: string | { problem: string };
  rest: unknown;
} {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { note: checkedNote(undefined), rest: body };
  }
  const { note, ...rest } = body as Record<string, unknown>;
  return { note: checkedNote(note), rest };
}
