#!/usr/bin/env node
import { HELP, USAGE } from './cli-help.js';

/**
 * `gateway <command>`: help is answered here, from text alone; a command's
 * code (and the services', for `start`) loads only when it runs.
 */
async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return void console.log(USAGE);
  const help = HELP[command];
  if (help === undefined) throw new Error(`unknown command "${command}"\n\n${USAGE}`);
  if (args.includes('--help') || args.includes('-h')) return void console.log(help);
  const { COMMANDS } = await import('./cli-commands.js');
  return COMMANDS[command]!(args);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // A configuration error's message already lists every problem; anything else gets a prefix.
  console.error((err as Error).name === 'ConfigError' ? (err as Error).message : `error: ${(err as Error).message}`);
  process.exitCode = 1;
});
