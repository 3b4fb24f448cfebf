import { spawn } from 'node:child_process';
import { REPO_ROOT } from './stack.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Starts `booking-facade <args>` from source with only the given settings (no stray REDIS_URL etc.). */
function start(args: string[], env: Record<string, string>) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(REDIS_URL|PAS_|QUEUE_|FACADE_|ADMIN_|AUDIT_DIR|CONFIG_FILE)/.test(k)));
  return spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'apps/cli/src/main.ts', ...args], { cwd: REPO_ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `booking-facade <args> | head -n 1`: the reader takes the first chunk of stdout and closes the pipe. */
export async function cliReadingFirstChunk(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const child = start(args, env);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr };
}

/** Runs `booking-facade <args>` from source with only the given settings (no stray REDIS_URL etc.). */
export function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 60000): Promise<CliRun> {
  const started = Date.now();
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    }),
  );
}
