import { Command } from 'commander';
import { VERSION } from '../node/paths.js';
import { registerStart } from './start.js';
import { registerTopology } from './topology.js';
import { registerCompute } from './compute.js';

/** The `city` command: one program, many roles (DESIGN.md). */
const program = new Command('city')
  .description('Possible City — an open city operating platform')
  .version(VERSION)
  .showHelpAfterError('(run city --help for usage)');

registerStart(program);
registerTopology(program);
registerCompute(program);

await program.parseAsync(process.argv);
