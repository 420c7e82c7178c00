// Base64 as Sluice reads it from others (a multiple-responses entry, a MIME part): padded, of
// the standard alphabet only. Node's decoder skips whatever else it meets, so text that is not
// base64 would be read into bytes nobody sent.

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whether `text` is padded standard base64 (no white space: strip a MIME part's line breaks first). */
export function isPaddedBase64(text: string): boolean {
  return text.length % 4 === 0 && BASE64.test(text);
}
