import { gatewayConfig } from '../../services/gateway/config.js';
import { ConfigError, loadConfig, type LoadOptions } from '../../services/kit/config.js';

/** What start-up would say about a configuration: the problems loadConfig reports, none when it takes it. */
export function configProblems(options: LoadOptions): string[] {
  try {
    loadConfig(gatewayConfig, options);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}
