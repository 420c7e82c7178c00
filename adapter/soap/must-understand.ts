// SOAP 1.1 §4.2.3: a Header entry addressed to this node (no `actor`, or the "next" actor) with
// `mustUnderstand="1"` must be obeyed or the message refused. Sluice obeys only the X-Road
// fields it reads; any other such entry (a WS-Security header, say) would otherwise be echoed
// and silently ignored, and the caller would believe it had been applied.

import type { XmlElement } from "./safe-xml";

const SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/";
const NEXT_ACTOR = "http://schemas.xmlsoap.org/soap/actor/next";

/** Whether `entry`, a child of the Header, demands to be understood by the node reading it. */
export function demandsUnderstanding(entry: XmlElement): boolean {
  let must = false;
  let forThisNode = true;
  for (const attribute of entry.attributes) {
    if (attribute.namespace !== SOAP11_NS) continue;
    // SOAP 1.1 writes "1"; "true" is what SOAP 1.2 and lenient 1.1 writers use.
    const value = attribute.value.trim();
    if (attribute.local === "mustUnderstand") must = value === "1" || value === "true";
    else if (attribute.local === "actor") forThisNode = value === NEXT_ACTOR;
  }
  return must && forThisNode;
}
