// The fake upstream in a process of its own: `node upstream-process.mjs` prints its URL on the
// first line of stdout and serves until stdin closes. The overload test uses it so that the
// model's answers are not delayed by the test's own client, which drives thousands of streams
// from one event loop.
import { startFakeUpstream } from '../e2e/fake-upstream.mjs';

const up = await startFakeUpstream();
process.stdout.write(up.url + '\n');
process.stdin.resume();
process.stdin.on('end', async () => {
  await up.close();
  process.exit(0);
});
