/**
 * Builds the local base and container/Dockerfile's targets, as `npm run test:image` does, and prints what it built:
 *   npx tsx test/container/build-images.ts [--builder classic|buildkit] [--target runtime|restore-test]... [--verbose]
 * Starts the Docker engine when none is running (and stops it again when done).
 */
import { parseArgs } from 'node:util';
import { ensureEngine } from './docker';
import { type Builder, type ImageTarget, IMAGE_TARGETS, buildImages } from './images';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { builder: { type: 'string', default: 'classic' }, target: { type: 'string', multiple: true }, verbose: { type: 'boolean', default: false } },
  });
  const builder = values.builder as Builder;
  if (builder !== 'classic' && builder !== 'buildkit') throw new Error(`--builder ${values.builder}: use classic or buildkit`);
  const targets = (values.target ?? IMAGE_TARGETS) as ImageTarget[];
  for (const t of targets) if (!IMAGE_TARGETS.includes(t)) throw new Error(`--target ${t}: use ${IMAGE_TARGETS.join(' or ')}`);
  const engine = await ensureEngine();
  try {
    const started = Date.now();
    const images = await buildImages({ builder, targets, verbose: values.verbose, log: (line) => console.error(line) });
    for (const image of images) console.log(`${image.tag}\t${image.id}\t${(image.size / 1e6).toFixed(0)} MB`);
    console.error(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await engine.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`build-images: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
