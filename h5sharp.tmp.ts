import { readFileSync, readdirSync } from 'node:fs';
import sharp from 'sharp';
const dir = '/tmp/rxdata-bench-tfdata-200000-480/images/class0';
const files = readdirSync(dir).slice(0, 40).map((f) => readFileSync(`${dir}/${f}`));
const variants: Record<string, (b: Buffer) => Promise<unknown>> = {
  current: (b) => sharp(b, { failOn: 'error' }).resize(224, 224, { fit: 'fill', kernel: 'linear' }).toColourspace('srgb').ensureAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }),
  rgb: (b) => sharp(b).resize(224, 224, { fit: 'fill', kernel: 'linear' }).removeAlpha().raw().toBuffer(),
  decodeOnly: (b) => sharp(b).raw().toBuffer(),
};
console.log('concurrency', sharp.concurrency(), 'cache', JSON.stringify(sharp.cache()));
for (const conc of [sharp.concurrency(), 1]) {
  sharp.concurrency(conc);
  for (let rep = 0; rep < 2; rep++)
    for (const [name, f] of Object.entries(variants)) {
      const t = performance.now();
      const c = process.cpuUsage();
      for (const b of files) await f(b);
      const cpu = process.cpuUsage(c);
      console.log(`conc ${conc} ${name}: ${((performance.now() - t) / files.length).toFixed(2)} ms/img wall, ${((cpu.user + cpu.system) / 1000 / files.length).toFixed(2)} ms cpu`);
    }
}
sharp.cache(false);
for (const [name, f] of Object.entries(variants)) {
  const t = performance.now();
  const c = process.cpuUsage();
  for (const b of files) await f(b);
  const cpu = process.cpuUsage(c);
  console.log(`nocache ${name}: ${((performance.now() - t) / files.length).toFixed(2)} ms/img wall, ${((cpu.user + cpu.system) / 1000 / files.length).toFixed(2)} ms cpu`);
}
