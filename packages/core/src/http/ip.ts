/**
 * The `ip` identity of a client address. One end user usually holds a whole IPv6 /64 (and can pick
 * any address in it), so IPv6 addresses are grouped by their network prefix; otherwise rotating
 * through addresses would give a client unlimited fresh identities. IPv4-mapped IPv6 addresses
 * (`::ffff:203.0.113.9`, as dual-stack servers report IPv4 clients) count as the IPv4 address.
 *
 * @param ipv6Subnet prefix length that identifies one IPv6 client (1 to 128; 128 keeps each address).
 * @example ipIdentity('2001:db8:1:2:3:4:5:6') // '2001:db8:1:2::/64'
 * @example ipIdentity('::ffff:203.0.113.9')    // '203.0.113.9'
 */
export function ipIdentity(ip: string, ipv6Subnet = 64): string {
  const address = ip.includes('%') ? ip.slice(0, ip.indexOf('%')) : ip; // drop an interface zone
  // How dual-stack Node servers report every IPv4 client: answered without parsing the groups.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  const groups = ipv6Groups(address);
  if (groups === undefined) return address; // IPv4, or not an address at all: used as given
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-translated (::ffff:0:a.b.c.d) in any spelling: the IPv4 client.
  const [a, b, c, d, e, f, g, h] = groups as [number, number, number, number, number, number, number, number];
  if (a === 0 && b === 0 && c === 0 && d === 0 && ((e === 0 && f === 0xffff) || (e === 0xffff && f === 0))) {
    return `${g >> 8}.${g & 0xff}.${h >> 8}.${h & 0xff}`;
  }
  let bits = ipv6Subnet;
  const masked = groups.map((group) => {
    const keep = Math.max(0, Math.min(16, bits));
    bits -= 16;
    return keep === 0 ? 0 : group & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${compress(masked)}/${ipv6Subnet}`;
}

/** The eight 16-bit groups of an IPv6 address, or `undefined` when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  if (!address.includes(':')) return undefined;
  let text = address;
  const tail: number[] = [];
  // An embedded IPv4 tail (`64:ff9b::192.0.2.1`) is the last two groups.
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (v4) {
    const bytes = v4.slice(2).map(Number) as [number, number, number, number];
    if (bytes.some((byte) => byte > 255)) return undefined;
    tail.push((bytes[0] << 8) | bytes[1], (bytes[2] << 8) | bytes[3]);
    text = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groupsOf(halves[0]!);
  const rest = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const missing = 8 - tail.length - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const values = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  if (!values.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  return [...values.map((group) => parseInt(group, 16)), ...tail];
}

/** The canonical text form (RFC 5952): lowercase, the longest run of zero groups as `::`. */
function compress(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
