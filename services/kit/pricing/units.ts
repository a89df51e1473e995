import type { BilledUnits } from '../../gen/gateway/v1/common.js';
import type { ModelPrice } from './catalog.js';
import { MONEY_DECIMALS, scaled, type Money } from './money.js';

/** The key of an image's price in a catalog entry's `images` table: its quality and size, as the images API names them. */
export function imageVariant(quality: string, size: string): string {
  return `${quality}/${size}`;
}

/** A price in USD per unit as Money (exact: config allows no more decimals than Money holds). */
export function perUnit(usd: number): Money | undefined {
  return scaled(usd, MONEY_DECIMALS);
}

/**
 * What units billed by an API other than tokens cost at a model's price, or undefined when the entry has no price
 * for that unit. An image of a quality and size the table does not name ("auto", or a size added since) is priced
 * at the dearest image there: never less than it may have cost.
 */
export function unitsCost(price: ModelPrice, billed: BilledUnits): Money | undefined {
  const quantity = Number.isFinite(billed.quantity) && billed.quantity > 0 ? billed.quantity : 0;
  // The image_generation tool's images are priced at its image model's (pricing/index.ts looks that model up).
  if ((billed.unit === 'image' || billed.unit === 'image_generation_call') && price.images) {
    const usd = price.images[billed.variant] ?? Math.max(0, ...Object.values(price.images));
    return BigInt(Math.ceil(quantity)) * (perUnit(usd) ?? 0n);
  }
  if (billed.unit === 'search_unit' && price.searchUnit !== undefined) return BigInt(Math.ceil(quantity)) * (perUnit(price.searchUnit) ?? 0n);
  if (billed.unit === 'input_character' && price.inputCharacter !== undefined) return BigInt(Math.ceil(quantity)) * (perUnit(price.inputCharacter) ?? 0n);
  // Billed by the second, as OpenAI's usage reports (a fraction of a second rounds up).
  if (billed.unit === 'audio_second' && price.audioSecond !== undefined) return BigInt(Math.ceil(quantity)) * (perUnit(price.audioSecond) ?? 0n);
  if (billed.unit === 'web_search_call' && price.webSearchCalls) {
    const usd = price.webSearchCalls[billed.variant] ?? Math.max(0, ...Object.values(price.webSearchCalls));
    return BigInt(Math.ceil(quantity)) * (perUnit(usd) ?? 0n);
  }
  return undefined;
}

/** The images API's fields that bill: how many, their quality and size (as a request asks, or an answer reports). */
interface ImageFields {
  n?: unknown;
  quality?: unknown;
  size?: unknown;
}

const named = (value: unknown, fallback: string) => (typeof value === 'string' && value ? value : fallback);

/**
 * Images as billed units: `made` of them (else the `n` asked for, 1 by default), of the quality and size the answer
 * reports, else those asked for, else the API's defaults for dall-e ("standard", "1024x1024"). Ingress reserves
 * what the request asks for; routing bills what the provider answered.
 */
export function billedImages(request: ImageFields, answer?: ImageFields & { made: number }): BilledUnits {
  const asked = typeof request.n === 'number' && request.n > 0 ? request.n : 1;
  const quality = named(answer?.quality, named(request.quality, 'standard'));
  const size = named(answer?.size, named(request.size, '1024x1024'));
  return { unit: 'image', quantity: answer ? answer.made : asked, variant: imageVariant(quality, size) };
}

/** Documents one search unit covers, as Cohere bills (a long document split into chunks counts as more; not counted here). */
const DOCUMENTS_PER_SEARCH_UNIT = 100;

/** Search units of a rerank over `documents`, as Cohere bills them: one per query over up to 100 documents. */
export function searchUnitsOf(documents: unknown): number {
  return Math.max(1, Math.ceil((Array.isArray(documents) ? documents.length : 0) / DOCUMENTS_PER_SEARCH_UNIT));
}

/** Speech's billed units: the characters (Unicode code points) of the text spoken. */
export function billedSpeech(input: unknown): BilledUnits {
  return { unit: 'input_character', quantity: [...String(input)].length, variant: '' };
}

/** A transcription's or translation's billed units when its answer reports none: the upload's seconds (audioSeconds). */
export function billedUpload(data: Uint8Array): BilledUnits {
  return { unit: 'audio_second', quantity: audioSeconds(data), variant: '' };
}

/** Bytes of compressed audio a second holds at 16 kbit/s, about the least speech is encoded at: never fewer seconds than it lasts. */
const LOWEST_BYTES_PER_SECOND = 2_000;

/**
 * The seconds of audio in an upload, for a transcription whose answer reports none (and for the budget reservation
 * before it): exact for WAV (its header's data size over its byte rate), else estimated from its size at 16 kbit/s,
 * which over-counts audio encoded at a higher bit rate rather than under-bill.
 */
export function audioSeconds(data: Uint8Array): number {
  const wav = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (wav.length >= 44 && wav.toString('ascii', 0, 4) === 'RIFF' && wav.toString('ascii', 8, 12) === 'WAVE') {
    const byteRate = wav.readUInt32LE(28);
    for (let at = 12; at + 8 <= wav.length; at += 8 + wav.readUInt32LE(at + 4) + (wav.readUInt32LE(at + 4) % 2)) {
      if (wav.toString('ascii', at, at + 4) === 'data' && byteRate > 0) return Math.min(wav.readUInt32LE(at + 4), wav.length - at - 8) / byteRate;
    }
  }
  return Math.max(1, Math.ceil(wav.length / LOWEST_BYTES_PER_SECOND));
}

/** The kind a web search tool is priced as ("web_search", "web_search_preview"), its dated versions included; else undefined. */
export function webSearchKind(type: unknown): string | undefined {
  return typeof type === 'string' ? /^(web_search_preview|web_search)(?:_\d{4}_\d{2}_\d{2})?$/.exec(type)?.[1] : undefined;
}

/** The image model OpenAI's hosted image_generation tool is priced as (the tool's default; another `model` is refused). */
export const IMAGE_TOOL_MODEL = 'gpt-image-1';

/**
 * The most built-in tool calls a Responses API request offering web search or image generation may make: its own
 * `max_tool_calls` when lower. Routing writes it into the request OpenAI is sent (OpenAI stops calling tools there), so
 * the calls reserved against budgets at admission (reservedHostedTools) bound what is billed, as the output cap bounds tokens.
 */
export const MAX_HOSTED_TOOL_CALLS = 10;

type Tool = { type?: unknown; quality?: unknown; size?: unknown } | null;
const toolsOf = (body: Record<string, unknown>): Tool[] => (Array.isArray(body.tools) ? (body.tools as Tool[]) : []);

/** The metered hosted tool a Responses request offers: web search (by its kind) or image generation; undefined if neither. */
export function meteredHostedTool(body: Record<string, unknown>): { kind: string; tool: Tool } | undefined {
  for (const tool of toolsOf(body)) {
    const kind = webSearchKind(tool?.type) ?? (tool?.type === 'image_generation' ? 'image_generation' : undefined);
    if (kind) return { kind, tool };
  }
  return undefined;
}

/** The hosted tool calls a Responses request may make (max_tool_calls as routing sends it); undefined when it offers no metered hosted tool. */
export function hostedToolCallCap(body: Record<string, unknown>): number | undefined {
  if (!meteredHostedTool(body)) return undefined;
  const asked = body.max_tool_calls;
  return typeof asked === 'number' && Number.isInteger(asked) && asked >= 0 && asked < MAX_HOSTED_TOOL_CALLS ? asked : MAX_HOSTED_TOOL_CALLS;
}

/**
 * What ingress reserves for a Responses request's hosted tool calls: as many as it may make, web search calls at its
 * tool's kind, images at the quality and size the tool asks ("auto", the default, is priced at the dearest).
 */
export function reservedHostedTools(body: Record<string, unknown>): BilledUnits | undefined {
  const cap = hostedToolCallCap(body);
  const metered = meteredHostedTool(body);
  if (cap === undefined || !metered) return undefined;
  if (metered.kind !== 'image_generation') return { unit: 'web_search_call', quantity: cap, variant: metered.kind };
  return { unit: 'image_generation_call', quantity: cap, variant: imageVariant(named(metered.tool?.quality, 'auto'), named(metered.tool?.size, 'auto')) };
}

type OutputItem = { type?: unknown; status?: unknown; quality?: unknown; size?: unknown } | null;

/**
 * The hosted tool calls a Responses API answer was billed for: its `web_search_call` items, priced at the kind of the
 * request's web search tool; else its completed `image_generation_call` items, at the quality and size OpenAI reports
 * on them (else the tool's; images of differing variants at the dearest). Undefined when it made none.
 */
export function billedHostedTools(request: Record<string, unknown>, output: unknown): BilledUnits | undefined {
  const items = Array.isArray(output) ? (output as OutputItem[]) : [];
  const metered = meteredHostedTool(request);
  const searches = items.filter((item) => item?.type === 'web_search_call').length;
  if (searches > 0) return { unit: 'web_search_call', quantity: searches, variant: metered?.kind ?? '' };
  const images = items.filter((item) => item?.type === 'image_generation_call' && item.status === 'completed');
  if (images.length === 0) return undefined;
  const variants = new Set(
    images.map((item) => imageVariant(named(item?.quality, named(metered?.tool?.quality, 'auto')), named(item?.size, named(metered?.tool?.size, 'auto')))),
  );
  return { unit: 'image_generation_call', quantity: images.length, variant: variants.size === 1 ? [...variants][0]! : imageVariant('auto', 'auto') };
}
