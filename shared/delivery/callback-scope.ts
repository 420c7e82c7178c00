// Which client a callback target may be used for: a receiver listed in a client's own list
// (`callbacks.clients`) gets documents about that client's messages only, so one client cannot
// aim its validly signed callbacks and hub events at another client's receiver.

/** `callbacks.clients`: an X-Road client id (member or subsystem) and its own receivers' entries. */
export type CallbackClients = Readonly<Record<string, readonly string[]>>;

/**
 * What the allowlists say of a target for a caller: allowed, in no list the caller may use
 * (`unlisted`), or listed as another client's own receiver (`others`, which a refusal must not
 * name: a caller would learn whose receiver it is).
 */
export type Admission = "allowed" | "unlisted" | "others";

/**
 * Whether a `callbacks.clients` key names `client`: the same id, or the member a subsystem
 * belongs to (`EE/GOV/70000001` owns for `EE/GOV/70000001/portal` too), since X-Road's member
 * is the organisation and its subsystems are its systems.
 */
export function keyCovers(key: string, client: string): boolean {
  if (client === key) return true;
  return key.split("/").length === 3 && client.startsWith(`${key}/`);
}

/**
 * Decides a target for `client`: a target a client's own list admits (`matches`, whether an
 * entry admits the target) is for that client only, the general list (`allow`) serves the
 * rest. Another client's entry claims the target when it `reaches` the receiver the entry
 * names in any spelling a receiver reads as the same (default: `matches`), so a spelling the
 * entry does not admit as written is not a way past its owner. `client` null is a caller not
 * known (a job an earlier release wrote without one, its record gone): it may use the general
 * list only, never a target some client owns.
 */
export function admission(
  allow: readonly string[],
  clients: CallbackClients,
  client: string | null,
  matches: (entry: string) => boolean,
  reaches: (entry: string) => boolean = matches,
): Admission {
  let ownedElsewhere = false;
  for (const [key, entries] of Object.entries(clients)) {
    if (client !== null && keyCovers(key, client)) {
      if (entries.some(matches)) return "allowed";
      continue;
    }
    if (entries.some(reaches)) ownedElsewhere = true;
  }
  if (ownedElsewhere) return "others";
  return allow.some(matches) ? "allowed" : "unlisted";
}
