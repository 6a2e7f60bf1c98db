/**
 * Go strings are UTF-8 bytes, JS strings UTF-16 code units: the two helpers that give JS strings Go's byte view.
 */

/**
 * The length in bytes of the UTF-8 encoding of `s` (Go `len(s)`), without encoding it. A code unit below U+0080
 * is 1 byte, below U+0800 2 bytes, else 3 bytes; a surrogate counts 2 bytes, so a surrogate pair (one code point
 * above U+FFFF) counts 4.
 */
export const utf8Length = (s: string): number => {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // 2-byte: +1, 3-byte: +2; a surrogate pair is 2 units -> 4 bytes: +1 each
    if (c >= 0x80) n += c < 0x800 ? 1 : c >= 0xd800 && c <= 0xdfff ? 1 : 2
  }
  return n
}

/** Fix-up so UTF-16 code units compare like UTF-8 bytes (code point order): surrogates sort above U+E000..U+FFFF. */
const codePointOrderUnit = (u: number): number => (u < 0xd800 ? u : u < 0xe000 ? u + 0x2000 : u - 0x800)

/** Bytewise (UTF-8) string comparison, Go's `sort.Strings` / map-key order. */
export const compareBytewise = (a: string, b: string): number => {
  const n = a.length < b.length ? a.length : b.length
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return x < 0xd800 && y < 0xd800 ? x - y : codePointOrderUnit(x) - codePointOrderUnit(y)
  }
  return a.length - b.length
}
