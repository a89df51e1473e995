import type { RequestContext } from '../gen/gateway/v1/common.js';
import type { StoredResponseReply, StoredResponseRequest } from '../gen/gateway/v1/routing.js';
import type { Queryable } from '../kit/db/types.js';
import { GatewayError } from '../kit/errors.js';
import type { Logger } from '../kit/log.js';
import type { RoutingConfig } from './config.js';
import { ITEM_IDS } from './migrations.js';
import { tenantOf } from './tenant.js';
import { invalid } from './formats/chat.js';
import { isHosted } from './formats/responses-tools.js';
import type { OutEvent } from './formats/types.js';

/**
 * The Responses API's state (docs/routing.md#stored-responses): the responses
 * a client asks to store (`store`, true unless false), each with the
 * conversation the provider was sent, within the caller's tenant, for
 * previous_response_id and GET/DELETE /v1/responses/{id}. Kept in routing's
 * table `routing_responses` until they expire.
 */

type Item = Record<string, unknown>;
type Settings = RoutingConfig['responses'];

interface Row {
  response: Item;
  input: Item[];
}

const DAY_MS = 86_400_000;

const isReference = (item: unknown) => (item as Item | null)?.type === 'item_reference';

const notFound = (id: string, param?: string) =>
  new GatewayError('not_found', `${param ? 'Previous response' : 'Response'} with id '${id}' not found.`, param ? { param } : {});

export class ResponsesState {
  constructor(
    private readonly db: Queryable,
    private readonly settings: Settings,
    private readonly log: Logger,
  ) {}

  private async load(id: string, context: RequestContext | undefined): Promise<Row | undefined> {
    const tenant = tenantOf(context);
    if (!tenant) return undefined;
    const { rows } = await this.db.query<Row>('SELECT response, input FROM routing_responses WHERE id = $1 AND tenant = $2 AND expires_at > now()', [
      id,
      tenant,
    ]);
    return rows[0];
  }

  /**
   * The body as routing acts on it: `store` as it will be honoured, hosted
   * tools left out when the operator says so (not for a body served natively, whose web search OpenAI runs), for previous_response_id the
   * stored conversation (its input, then its output) before the new input,
   * and each item_reference replaced by the stored item it names.
   */
  async resolve(body: Record<string, unknown>, context: RequestContext | undefined, keepsContent: boolean, native = false): Promise<Record<string, unknown>> {
    const resolved: Record<string, unknown> = { ...body, store: this.settings.store && keepsContent && body.store !== false };
    if (!native && this.settings.hostedTools === 'omit' && Array.isArray(body.tools)) resolved.tools = body.tools.filter((tool) => !isHosted(tool));
    const previous = body.previous_response_id;
    const referencing = Array.isArray(body.input) && body.input.some(isReference);
    if ((previous === undefined || previous === null) && !referencing) return resolved;
    const input = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : ((body.input as Item[] | undefined) ?? []);
    const items = referencing ? await this.dereference(input, context) : input;
    if (previous === undefined || previous === null) return { ...resolved, input: items };
    if (!this.settings.store)
      throw invalid(
        'previous_response_id is not available: this gateway keeps no responses (routing.responses.store is off); send the whole conversation in input.',
        'previous_response_id',
      );
    const row = await this.load(String(previous), context);
    if (!row) throw notFound(String(previous), 'previous_response_id');
    return { ...resolved, input: [...row.input, ...((row.response.output as Item[]) ?? []), ...items] };
  }

  /**
   * The input with each item_reference replaced by the item of that id among
   * the tenant's stored responses (an output item, or an input item as
   * GET /v1/responses/{id}/input_items lists it). Another tenant's item is
   * not found, as one that never was.
   */
  private async dereference(input: Item[], context: RequestContext | undefined): Promise<Item[]> {
    const ids = input.filter(isReference).map((item) => String(item.id));
    if (!this.settings.store)
      throw invalid(
        `Item references are not available: this gateway keeps no responses (routing.responses.store is off); send item '${ids[0]}' itself in input.`,
        'input',
      );
    const tenant = tenantOf(context);
    const { rows } = tenant
      ? await this.db.query<{ items: Item[] }>(
          `SELECT input || (response -> 'output') AS items FROM routing_responses WHERE ${ITEM_IDS} ?| $2::text[] AND tenant = $1 AND expires_at > now()`,
          [tenant, ids],
        )
      : { rows: [] };
    const found = new Map(rows.flatMap((row) => row.items).map((item) => [item.id, item]));
    return input.map((item) => {
      if (!isReference(item)) return item;
      const stored = found.get(String(item.id));
      if (!stored) throw new GatewayError('not_found', `Item with id '${String(item.id)}' not found.`, { param: 'input' });
      return stored;
    });
  }

  /**
   * What keeps the answer to a resolved body that asked to be stored, given the Response object the client receives;
   * `conversation`: the input items stored with it.
   */
  keeper(
    body: Record<string, unknown>,
    conversation: (() => unknown[]) | undefined,
    context: RequestContext | undefined,
  ): ((response: Item) => Promise<void>) | undefined {
    const tenant = tenantOf(context);
    if (body.store !== true || !tenant || !conversation) return undefined;
    const input = conversation();
    return async (response) => {
      try {
        await this.db.query(
          `INSERT INTO routing_responses (id, tenant, response, input, expires_at)
           VALUES ($1, $2, $3::jsonb, $4::jsonb, now() + make_interval(secs => $5))`,
          [response.id, tenant, JSON.stringify(response), JSON.stringify(input), (this.settings.retentionDays * DAY_MS) / 1000],
        );
      } catch (err) {
        // The answer is paid for and on its way: it goes out, and the loss is told to the operator.
        this.log.error({ err, responseId: response.id }, 'could not store a response');
      }
    };
  }

  /** GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items. */
  async stored(request: StoredResponseRequest): Promise<StoredResponseReply> {
    const json = (value: unknown) => ({ body: Buffer.from(JSON.stringify(value)) });
    if (request.action === 'delete') {
      const tenant = tenantOf(request.context);
      const { rowCount } = tenant
        ? await this.db.query('DELETE FROM routing_responses WHERE id = $1 AND tenant = $2 AND expires_at > now()', [request.id, tenant])
        : { rowCount: 0 };
      if (!rowCount) throw notFound(request.id);
      return json({ id: request.id, object: 'response.deleted', deleted: true });
    }
    const row = await this.load(request.id, request.context);
    if (!row) throw notFound(request.id);
    if (request.action === 'retrieve') return json(row.response);
    if (request.action !== 'input_items') throw invalid(`Unknown action ${request.action}.`);
    return json(page(row.input, request));
  }

  /** Removes the expired responses; run at start and hourly by every replica (deleting twice is harmless). */
  async purge(): Promise<number> {
    return (await this.db.query('DELETE FROM routing_responses WHERE expires_at <= now()')).rowCount;
  }
}

/** One page of input items in OpenAI's list shape: newest first unless order is asc, after an item id. */
function page(items: Item[], request: StoredResponseRequest) {
  const limit = request.limit || 20;
  if (limit > 100) throw invalid("Invalid 'limit': expected at most 100.", 'limit');
  if (request.order && request.order !== 'asc' && request.order !== 'desc') throw invalid("Invalid 'order': expected asc or desc.", 'order');
  const ordered = request.order === 'asc' ? items : [...items].reverse();
  const start = request.after ? ordered.findIndex((item) => item.id === request.after) + 1 : 0;
  if (request.after && start === 0) throw invalid(`Invalid 'after': no input item ${request.after} in this response.`, 'after');
  const data = ordered.slice(start, start + limit);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < ordered.length };
}

/** The events of a streamed answer, the Response of its terminal event kept before that event goes to the client. */
export async function* keptStream(events: AsyncIterable<OutEvent>, keep: (response: Item) => Promise<void>): AsyncGenerator<OutEvent> {
  for await (const event of events) {
    if (event.event === 'response.completed' || event.event === 'response.incomplete') await keep((JSON.parse(event.data) as { response: Item }).response);
    yield event;
  }
}
