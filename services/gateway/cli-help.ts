import { ADMIN_TOKEN_FILE } from '../governance/admin/principals.js';
import { SERVICE_NAMES } from '../kit/service.js';
import { GROUPS } from './service-list.js';

/** What `gateway --help` and `gateway <command> --help` print; kept apart from the commands so help loads nothing else. */

export const USAGE = `gateway — an OpenAI-compatible AI gateway

Usage:
  gateway start [--services <list>] [--workers <n>] [--config <file>]
                                                        run services (default: all, in one process)
  gateway keys create --name <name> [--team <id>] [--customer <id>] [--expires-at <ISO time>]
  gateway keys list
  gateway keys revoke <key id>
  gateway audit verify [--config <file>]                walk the audit log's chain, archives and checkpoints; exit 1 naming the first broken row
  gateway audit head [--sign-key <pem file>]            print the chain's head, signed, to keep outside the database
  gateway audit events                                  print an example of every event in every SIEM format (Markdown)
  gateway dead-letters [--consumer <name>] [--json]     list events a consumer or SIEM sink could never write or deliver
  gateway certs init <dir> [--hosts <list>]             make a development CA and a certificate per service (mutual TLS)
  gateway migrate [--config <file>]                     as the database's owner: every service's tables, roles and role passwords
  gateway import litellm --config <file> [--out <file>]  turn a LiteLLM proxy config.yaml into this gateway's configuration
  gateway import litellm --database <url> [--dry-run]   bring LiteLLM's keys (same secrets), teams and budgets into the running gateway
  gateway config check [--config <file>]                validate the configuration and exit
  gateway config reference                              print the configuration reference (Markdown)
  gateway nats config [--user <services>]...            print nats-server users allowed only what each service does on the bus

Run any command with --help for its options. Configuration: docs/configuration.md.`;

export const HELP: Record<string, string> = {
  start: `gateway start — run gateway services

Options:
  --services <list>  comma-separated services or groups to run in this process
                     services: ${SERVICE_NAMES.join(', ')}
                     groups: ${Object.entries(GROUPS)
                       .map(([g, s]) => `${g} (${s.join(',')})`)
                       .join('; ')}
                     default: all
  --workers <n>      run the services in n processes sharing the ports, one per core
                     (default: server.workers, 1); above 1 needs nats.url and database.url
  --config, -c <file>  YAML configuration (default: $GATEWAY_CONFIG, else ./gateway.yaml if present,
                     else built-in defaults: embedded database, in-process bus, mock provider)
  --help             show this help

Environment: GATEWAY_<SECTION>__<KEY>=value overrides a config key, e.g. GATEWAY_NATS__URL=nats://127.0.0.1:4222.
Stops gracefully on SIGTERM or SIGINT: in-flight requests finish, consumers drain.`,
  keys: `gateway keys — manage virtual keys through the admin API

  gateway keys create --name <name> [--team <id>] [--customer <id>] [--expires-at <ISO time>] [--json]
      prints the new key; it is shown only this once
  gateway keys list [--json]
  gateway keys revoke <key id>

Options for all:
  --admin-url <url>     admin API (default: $GATEWAY_ADMIN_URL, else http://127.0.0.1:<governance.adminPort>)
  --admin-token <token> admin token (default: $GATEWAY_ADMIN_TOKEN, else governance.adminToken,
                        else the token generated into <dataDir>/${ADMIN_TOKEN_FILE}, which the gateway
                        accepts only while governance.adminToken and governance.adminTokens are unset)
  --config, -c <file>   configuration to read the defaults above from
  --help                show this help`,
  audit: `gateway audit — the tamper-evident audit log (reads database.url, or the embedded database of a stopped gateway)

  gateway audit verify [--config <file>] [--json] [--checkpoints <dir>] [--archive-dir <dir>]
      walks the chain through every archive file and the database, recomputing every row's keyed hash
      (audit.chainKey, else <dataDir>/audit-chain.key), and checks it against the checkpoints
      (audit.checkpoints.dir); exit 0 when intact, 1 naming the first row changed, removed, inserted or
      forged, an archive the chain does not record, or a log that ends before a checkpoint (rolled back)
  gateway audit head [--config <file>] [--sign-key <Ed25519 private key PEM file>]
      prints the last row's position and hash, signed with the key (or audit.signingKey), to anchor outside the database
  gateway audit events
      prints an example of every event type as native JSON, OCSF and CEF, and what each SIEM transport sends (Markdown)`,
  'dead-letters': `gateway dead-letters — events set aside in dead_letters (reads database.url, or the embedded database of a stopped gateway)

  gateway dead-letters [--consumer <name>] [--limit <n>] [--json] [--config <file>]
      lists them newest first: when, consumer (audit, metering, metering_tools, siem-<sink>), event type, request id,
      and why; --json adds each event whole. Each consumer tries its dead letters again at start and every hour,
      so fix the cause (a price, a SIEM's size limit) and restart it. See docs/operations.md, "Dead letters".

Options:
  --consumer <name>     only this consumer's
  --limit <n>           at most n (default 100)
  --json                one JSON array, events included
  --config, -c <file>   configuration to read database.url from
  --help                show this help`,
  certs: `gateway certs — certificates for mutual TLS between the gateway's processes (docs/security.md)

  gateway certs init <dir> [--hosts <list>] [--group <name>=<services>]... [--days <n>]
      writes ca.crt and ca.key (a new CA), and <service>.crt and <service>.key for each of
      ${SERVICE_NAMES.join(', ')}: each certificate names its service as spiffe://ai-gateway/<service>
      and as a DNS name. Point each process at them with server.tls.ca, server.tls.cert, server.tls.key.
      Keys are written readable by their owner only. For production, issue the certificates from your own CA
      with the same names; keep ca.key offline.

Options:
  --hosts <list>        further DNS names or IP addresses every certificate answers as, comma-separated
  --group <name>=<services>  also a certificate <name>.crt for a process running several services,
                        e.g. --group request-path=ingress,routing,caching,governance (repeatable)
  --days <n>            validity of the service certificates (default 365; the CA: 10 years)
  --help                show this help`,
  migrate: `gateway migrate — bring the database up to date as its owner (database.url), then exit

  gateway migrate [--config <file>]
      applies each service's migrations not yet applied, makes its runtime roles (<database>_governance,
      _caching, _metering, _audit_writer, _audit_maintainer) if missing, grants each the least it needs, and sets
      their passwords from database.passwords. Run it before starting a version with database.migrate off, so the
      services never hold the owner's credentials (docs/security.md, "Database roles"). Safe to run again.

Options:
  --config, -c <file>   configuration to read database.url and database.passwords from
  --help                show this help`,
  import: `gateway import litellm — bring a LiteLLM proxy over: its config.yaml, then its database (docs/migrating-from-litellm.md)

  gateway import litellm --config <config.yaml> [--out <file>]
      maps model_list (providers by prefix, deployments grouped by model_name, weights from weight or rpm/tpm),
      router_settings and litellm_settings (strategy, retries, fallbacks of every kind, cooldowns, timeouts) to the
      routing section. Secrets stay references: os.environ/NAME becomes env:NAME, and a key written into the file is
      not copied but replaced by env:<NEW_NAME>, which it asks you to set. Prints on stderr every key it could not
      carry over, and why; the output's header repeats them. Nothing is resolved or sent anywhere.

  gateway import litellm --database <postgres url> [--schema <name>] [--dry-run] [--admin-url <url>] [--admin-token <token>]
      reads LiteLLM's tables (read only) and, through the running gateway's admin API as its owner, creates or
      updates customers (organizations), teams, virtual keys and budgets. Each key is imported by the SHA-256 LiteLLM
      stores, so applications keep their sk-… keys. Prints each change, and on stderr what did not carry over by
      table and column. Running it again changes nothing that already matches.

Options:
  --config, -c <file>   LiteLLM's proxy config.yaml
  --out, -o <file>      write the configuration there (default: stdout)
  --database <url>      LiteLLM's DATABASE_URL
  --schema <name>       the schema holding LiteLLM's tables (default: public)
  --dry-run             print the changes, make none
  --admin-url <url>     the gateway's admin API (default: $GATEWAY_ADMIN_URL, else this host's governance.adminPort)
  --admin-token <token> an owner token (default: $GATEWAY_ADMIN_TOKEN, governance.adminToken, or the generated one)
  --help                show this help`,
  config: `gateway config check [--config <file>]  validate the configuration, print problems, exit 1 if any
gateway config reference                 print every configuration key with its type, default and meaning (Markdown)`,
  nats: `gateway nats config — the users of a nats-server configuration (deploy/nats/users.conf is its output for the defaults)

  gateway nats config [--config <file>] [--user <services>]...
      prints an authorization block: one user per process, named after its services and allowed only what they
      do on the bus, for the configured nats.stream, nats.subjectPrefix and audit.sinks; each password is read
      from nats-server's environment (NATS_<USER>_PASSWORD). Render again after changing any of those.

Options:
  --user <services>     a user for a process running these services (as for start --services, e.g. consumers);
                        repeat for each process. Default: one user per service
  --config, -c <file>   configuration to read the stream, subject prefix and SIEM sinks from
  --help                show this help

See docs/security.md, "NATS: credentials and least privilege".`,
};
