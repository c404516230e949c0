/**
 * CRC-32C (Castagnoli), the checksum TFRecord framing uses: slicing-by-16 (16 tables, 16 bytes a
 * step), the tail byte by byte; checked against the bit-at-a-time definition in the tests.
 * TFRecord stores it "masked" so that a CRC of data holding CRCs stays well distributed.
 */

/** The reflected Castagnoli polynomial 0x1EDC6F41. */
const POLY = 0x82f63b78;

/**
 * Slicing tables: table k gives the CRC of a byte followed by k zero bytes, so the loop folds 16
 * bytes per step with 16 independent look-ups (the layout of SheetJS crc-32's slicing-by-16).
 */
const TABLES: readonly Int32Array[] = (() => {
  const all = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    all[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 16; k++) all[k * 256 + n] = (all[(k - 1) * 256 + n] >>> 8) ^ all[all[(k - 1) * 256 + n] & 0xff];
  }
  return Array.from({ length: 16 }, (_, k) => all.subarray(k * 256, k * 256 + 256));
})();
const [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15] = TABLES;

/**
 * The CRC-32C of `bytes` (optionally continuing from a previous `crc`), or of `bytes[start, end)`
 * (no subarray to make on the hot path).
 *
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode('123456789')); // 0xe3069283
 * ```
 */
export function crc32c(b: Uint8Array, crc = 0, start = 0, end = b.length): number {
  let c = ~crc;
  let i = start;
  const n = end;
  // Sixteen bytes per step: on 300-byte records about 2.5x the former slicing-by-4, and on par
  // with SheetJS crc-32's crc32c (the same layout; ours saves a UMD module in an ESM package).
  for (const end = n - 16; i <= end; i += 16) {
    c =
      T15[b[i] ^ (c & 0xff)] ^
      T14[b[i + 1] ^ ((c >>> 8) & 0xff)] ^
      T13[b[i + 2] ^ ((c >>> 16) & 0xff)] ^
      T12[b[i + 3] ^ (c >>> 24)] ^
      T11[b[i + 4]] ^
      T10[b[i + 5]] ^
      T9[b[i + 6]] ^
      T8[b[i + 7]] ^
      T7[b[i + 8]] ^
      T6[b[i + 9]] ^
      T5[b[i + 10]] ^
      T4[b[i + 11]] ^
      T3[b[i + 12]] ^
      T2[b[i + 13]] ^
      T1[b[i + 14]] ^
      T0[b[i + 15]];
  }
  // The last 0 to 15 bytes, one at a time (table 0 alone: the classic byte-wise CRC).
  for (; i < n; i++) c = T0[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** TFRecord's masked CRC of `bytes` (or of `bytes[start, end)`): `((crc >>> 15) | (crc << 17)) + 0xa282ead8`, unsigned. */
export function maskedCrc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const crc = crc32c(bytes, 0, start, end);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
