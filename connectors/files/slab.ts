/**
 * Copies of small records carved out of shared slabs: one allocation per slab instead of one per
 * record (a typed array over 64 bytes costs a backing store and a GC finaliser; measured about 4x
 * a slab copy per 300-byte record). A held record pins its slab (at most `SLAB_BYTES`), never the
 * 64 KiB read chunk it came from; a record over `SLAB_BYTES / 4` gets an array of its own.
 */

/** Bytes per slab: small enough that a record kept long (a shuffle buffer's straggler) pins little. */
export const SLAB_BYTES = 4096;

/** A per-reader slab allocator (one per file reader: slabs are never shared across files). */
export class Slab {
  /** The slab being filled, and the offset of its free space. */
  private slab = new Uint8Array(0);
  private used = 0;

  /** A plain Uint8Array holding a copy of `source[start, start + length)`. */
  copy(source: Uint8Array, start: number, length: number): Uint8Array {
    if (length > SLAB_BYTES / 4) return source.slice(start, start + length);
    if (this.used + length > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.used = 0;
    }
    const at = this.used;
    this.slab.set(source.subarray(start, start + length), at);
    this.used += length;
    return this.slab.subarray(at, at + length);
  }
}

/** Fresh zeroed Float32Arrays carved out of shared slabs (rows of a numeric CSV), on the same terms as {@link Slab}. */
export class FloatSlab {
  private slab = new Float32Array(0);
  private used = 0;

  /** A zeroed Float32Array of `length` elements. */
  take(length: number): Float32Array {
    if (length * 4 > SLAB_BYTES / 4) return new Float32Array(length);
    if (this.used + length > this.slab.length) {
      this.slab = new Float32Array(SLAB_BYTES / 4);
      this.used = 0;
    }
    const at = this.used;
    this.used += length;
    return this.slab.subarray(at, at + length);
  }
}
