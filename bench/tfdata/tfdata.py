"""tf.data's side of bench scenario 7 (bench/scenarios/tfdata.ts).

  python tfdata.py write DIR ROWS [IMAGES]   writes the data set with TensorFlow itself
  python tfdata.py run DIR CASE              runs tf.data's best pipeline for CASE, prints one
                                            line: @@tfdata {"ms": …, "items": …, …}

The data set: ROWS tf.train.Examples (64 floats `x` + an int64 `label`) in 4 TFRecord shards,
the same rows as 4 CSV shards (header f0..f63,label), IMAGES JPEGs in 4 class folders.
Each `run` warms up on a short pass (graph tracing, file cache) before the timed epoch.
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
FEATURES = 64
SHARDS = 4
BATCH = 256
SHUFFLE = 10_000
IMAGE_SIZE = 224
IMAGE_BATCH = 32


def write(root, rows, images):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    label = rng.integers(0, 10, rows)
    os.makedirs(root, exist_ok=True)
    for s in range(SHARDS):
        part = range(s, rows, SHARDS)
        with tf.io.TFRecordWriter(os.path.join(root, f"train-{s:05d}-of-{SHARDS:05d}.tfrecord")) as w:
            for i in part:
                ex = tf.train.Example(features=tf.train.Features(feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=x[i])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label[i]])),
                }))
                w.write(ex.SerializeToString())
        with open(os.path.join(root, f"train-{s:05d}-of-{SHARDS:05d}.csv"), "w") as f:
            f.write(",".join([f"f{k}" for k in range(FEATURES)] + ["label"]) + "\n")
            for i in part:
                # float32 values printed as TensorFlow's repr: shortest round-trip text.
                f.write(",".join([repr(float(v)) for v in x[i]] + [str(label[i])]) + "\n")
    for c in range(4):
        folder = os.path.join(root, "images", f"class{c}")
        os.makedirs(folder, exist_ok=True)
        for i in range(c, images, 4):
            # Smooth gradients plus noise: photo-like JPEG sizes, 320x240 as a camera frame.
            h, w = 240, 320
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([(xx * (i + 1)) % 256, (yy * 3 + i) % 256, ((xx + yy) * 2) % 256], -1)
            img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
            tf.io.write_file(os.path.join(folder, f"{i:05d}.jpg"), tf.io.encode_jpeg(img, quality=90))
    open(os.path.join(root, "done"), "w").write(f"{rows} {images}\n")


def files(root, ext):
    return sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(ext))


def interleaved(root, ext, reader):
    ds = tf.data.Dataset.from_tensor_slices(files(root, ext))
    return ds.interleave(reader, cycle_length=SHARDS, num_parallel_calls=AUTOTUNE, deterministic=False)


def tfrecord(root):
    spec = {"x": tf.io.FixedLenFeature([FEATURES], tf.float32), "label": tf.io.FixedLenFeature([], tf.int64)}
    ds = interleaved(root, ".tfrecord", tf.data.TFRecordDataset)
    ds = ds.shuffle(SHUFFLE).batch(BATCH)
    ds = ds.map(lambda r: tf.io.parse_example(r, spec), num_parallel_calls=AUTOTUNE, deterministic=False)
    return ds.prefetch(AUTOTUNE), lambda b: b["label"].shape[0]


def csv(root):
    defaults = [[0.0]] * FEATURES + [[0]]
    ds = interleaved(root, ".csv", lambda f: tf.data.TextLineDataset(f).skip(1))
    ds = ds.shuffle(SHUFFLE).batch(BATCH)

    def decode(lines):
        cols = tf.io.decode_csv(lines, record_defaults=defaults)
        return tf.stack(cols[:-1], axis=1), cols[-1]

    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=False)
    return ds.prefetch(AUTOTUNE), lambda b: b[1].shape[0]


def image_ds(root):
    classes = sorted(os.listdir(os.path.join(root, "images")))
    paths, labels = [], []
    for c, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(root, "images", name))):
            paths.append(os.path.join(root, "images", name, f))
            labels.append(c)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))

    def load(path, label):
        img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        img = tf.image.resize(img, [IMAGE_SIZE, IMAGE_SIZE])
        return img, label

    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=False).batch(IMAGE_BATCH)
    return ds.prefetch(AUTOTUNE), lambda b: b[1].shape[0]


def count(ds, size, limit=None):
    n = 0
    for b in ds:
        n += size(b)
        if limit is not None and n >= limit:
            break
    return n


def run_pipeline(root, make):
    ds, size = make(root)
    count(ds, size, limit=5 * BATCH)  # warm-up: traces the map functions, fills the page cache
    t0, c0 = time.perf_counter(), time.process_time()
    n = count(ds, size)
    ms = (time.perf_counter() - t0) * 1000
    # CPU time of every thread of the process: cpuMs / ms = cores busy on average.
    return {"ms": ms, "items": n, "perS": n / ms * 1000, "cpuMs": (time.process_time() - c0) * 1000}


def fit(root):
    """Keras fit on the TFRecord pipeline vs on the same batches held in memory (the ceiling)."""
    tf.keras.utils.set_random_seed(1)
    ds, _ = tfrecord(root)
    ds = ds.map(lambda b: (b["x"], b["label"]))

    def model():
        m = tf.keras.Sequential([tf.keras.Input((FEATURES,)), tf.keras.layers.Dense(128, activation="relu"), tf.keras.layers.Dense(10)])
        m.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    memory = tf.data.Dataset.from_tensor_slices(next(iter(ds.unbatch().batch(10**9)))).batch(BATCH).cache()
    for _ in memory:
        pass  # materialise the cache: an epoch of it is the ceiling
    fed, ceiling = model(), model()
    fed.fit(ds.take(5), verbose=0)
    ceiling.fit(memory.take(5), verbose=0)
    t0 = time.perf_counter()
    ceiling.fit(memory, verbose=0)
    ceiling_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    fed.fit(ds, verbose=0)
    ms = (time.perf_counter() - t0) * 1000
    n = sum(1 for _ in memory) * 0 + int(memory.reduce(0, lambda a, b: a + tf.shape(b[1])[0]))
    return {"ms": ms, "items": n, "perS": n / ms * 1000, "ceilingMs": ceiling_ms, "stall": max(0.0, 1 - ceiling_ms / ms)}


def main():
    cmd, root = sys.argv[1], sys.argv[2]
    if cmd == "write":
        write(root, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
        return
    case = sys.argv[3]
    makers = {"tfrecord": tfrecord, "csv": csv, "image": image_ds}
    result = fit(root) if case == "fit" else run_pipeline(root, makers[case])
    result["threads"] = os.cpu_count()
    print("@@tfdata " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
