import type { ServerResponse } from 'node:http';
/**
 * OpenAI's audio APIs, from their reference (https://platform.openai.com/docs/api-reference/audio):
 * - POST /v1/audio/speech: JSON in, the audio's bytes out with the media type of `response_format` (mp3 by default);
 * - POST /v1/audio/transcriptions and /translations: a multipart form with the `file`, answered as `response_format`
 *   asks: json (`{text}`, with `usage`: seconds for whisper-1, tokens for gpt-4o-transcribe), text, srt, vtt, or
 *   verbose_json (whisper-1 only: task, language, duration, segments, and words when asked for).
 * A WAV file's duration is read from its header; other audio is taken as 128 kbit/s.
 * Streamed: speech with stream_format "sse" (not for tts-1) and transcriptions with `stream` (gpt-4o models; whisper-1
 * answers whole), as OpenAI's streaming events.
 */

/** What one call answers: a status, the body's media type and bytes; or, streamed, its events' data. */
export interface AudioAnswer {
  status: number;
  contentType: string;
  body: Buffer;
  /** Server-sent events, each `data:` only, as OpenAI streams speech and transcriptions. */
  events?: unknown[];
  /** After the events: drop the connection (`break`), or keep it open until the client leaves (`stall`). */
  ending?: 'break' | 'stall';
}

/** Bytes of audio in each speech.audio.delta event. */
const DELTA_BYTES = 100;

/**
 * The events of a streamed speech (stream_format "sse", https://platform.openai.com/docs/api-reference/audio/speech-audio-delta-event):
 * the audio base64 in speech.audio.delta events, then speech.audio.done with the token usage, as gpt-4o-mini-tts reports
 * it (the input at a token per 4 characters, rounded up; the audio at 10 tokens per delta).
 */
function speechEvents(audio: Buffer, input: string): unknown[] {
  const deltas = Array.from({ length: Math.ceil(audio.length / DELTA_BYTES) }, (_, i) => ({
    type: 'speech.audio.delta',
    audio: audio.subarray(i * DELTA_BYTES, (i + 1) * DELTA_BYTES).toString('base64'),
  }));
  const inputTokens = Math.ceil(input.length / 4);
  const outputTokens = deltas.length * 10;
  return [
    ...deltas,
    { type: 'speech.audio.done', usage: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens } },
  ];
}

/** The events of a streamed transcription (https://platform.openai.com/docs/api-reference/audio/transcript-text-delta-event): a delta a word, then the text and usage. */
function transcriptEvents(text: string, usage: unknown): unknown[] {
  const words = text.split(' ').map((word, i) => ({ type: 'transcript.text.delta', delta: i === 0 ? word : ` ${word}` }));
  return [...words, { type: 'transcript.text.done', text, usage }];
}

/** Writes an answer: whole, or as its events (then dropping or holding the connection as it says). */
export function sendAudio(res: ServerResponse, answer: AudioAnswer, headers: Record<string, string>): void {
  if (!answer.events) {
    res.writeHead(answer.status, { 'content-type': answer.contentType, ...headers });
    return void res.end(answer.body);
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', ...headers });
  const body = answer.events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('');
  // Dropped once the events are on their way, so the client has them before the connection breaks.
  if (answer.ending === 'break') res.write(body, () => res.destroy());
  else if (answer.ending === 'stall') res.write(body);
  else res.end(body);
}

const MEDIA_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};

/** The bytes the fake speaks for `input` in `format`: the format's name, then the input's bytes reversed and every byte value, so tests can compare exactly. */
export function fakeSpeech(input: string, format = 'mp3'): Buffer {
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  return Buffer.concat([Buffer.from(`${format}:`), Buffer.from(input).reverse(), every]);
}

/** The text the fake hears in any audio. */
export const FAKE_TRANSCRIPT = 'The quick brown fox jumps over the lazy dog.';
export const FAKE_TRANSLATION = 'The quick brown fox jumps over the lazy dog (translated).';

const FORMATS = ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm'];

const json = (status: number, body: unknown): AudioAnswer => ({ status, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });
const refused = (message: string, param: string | null, code: string | null = null) =>
  json(400, { error: { message, type: 'invalid_request_error', param, code } });

function speech(body: Record<string, unknown>): AudioAnswer {
  if (typeof body.input !== 'string') return refused("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  if (typeof body.voice !== 'string') return refused("Missing required parameter: 'voice'.", 'voice', 'missing_required_parameter');
  const format = typeof body.response_format === 'string' ? body.response_format : 'mp3';
  const type = MEDIA_TYPES[format];
  if (!type)
    return refused(`Invalid value: '${format}'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'.`, 'response_format', 'invalid_value');
  const audio = fakeSpeech(body.input, format);
  if (body.stream_format !== 'sse') return { status: 200, contentType: type, body: audio };
  const model = String(body.model);
  if (model.startsWith('tts-1')) return refused(`stream_format 'sse' is not supported for ${model}.`, 'stream_format', 'unsupported_value');
  const events = speechEvents(audio, body.input);
  // Models named for it misbehave: break-stream drops the connection after two deltas, stall-stream holds it after one.
  if (model.startsWith('break-stream')) return { status: 200, contentType: '', body: Buffer.alloc(0), events: events.slice(0, 2), ending: 'break' };
  if (model.startsWith('stall-stream')) return { status: 200, contentType: '', body: Buffer.alloc(0), events: events.slice(0, 1), ending: 'stall' };
  return { status: 200, contentType: '', body: Buffer.alloc(0), events };
}

/** Seconds of audio: a WAV's data size over its byte rate (its canonical 44-byte header), else its size at 128 kbit/s. */
function durationOf(audio: Buffer): number {
  const wav = audio.length >= 44 && audio.toString('ascii', 0, 4) === 'RIFF' && audio.toString('ascii', 36, 40) === 'data';
  return wav ? audio.readUInt32LE(40) / audio.readUInt32LE(28) : audio.length / 16_000;
}

/** The form's fields as the fake records them (each file by name, type and size; `name[]` fields as lists), and its files. */
export async function readForm(raw: Buffer, contentType: string): Promise<{ fields: Record<string, unknown>; files: { field: string; file: File }[] }> {
  const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  const fields: Record<string, unknown> = {};
  const files: { field: string; file: File }[] = [];
  for (const [name, value] of form.entries()) {
    if (typeof value !== 'string') files.push({ field: name, file: value });
    const recorded = typeof value === 'string' ? value : { filename: value.name, type: value.type, size: value.size };
    if (name.endsWith('[]')) fields[name] = [...((fields[name] as unknown[] | undefined) ?? []), recorded];
    else fields[name] = recorded;
  }
  return { fields, files };
}

async function transcription(api: 'transcriptions' | 'translations', fields: Record<string, unknown>, file: File | undefined): Promise<AudioAnswer> {
  if (!file) return refused("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
  if (typeof fields.model !== 'string') return refused('you must provide a model parameter', null);
  const extension = file.name.split('.').at(-1)?.toLowerCase() ?? '';
  if (!FORMATS.includes(extension)) return refused(`Invalid file format. Supported formats: ${JSON.stringify(FORMATS)}`, null);
  const model = fields.model;
  const format = typeof fields.response_format === 'string' ? fields.response_format : 'json';
  const tokens = model.startsWith('gpt-4o');
  if (tokens && format !== 'json' && format !== 'text') {
    return refused(`response_format '${format}' is not compatible with model '${model}'. Use 'json' or 'text'.`, 'response_format', 'unsupported_value');
  }
  const duration = durationOf(Buffer.from(await file.arrayBuffer()));
  const text = api === 'transcriptions' ? FAKE_TRANSCRIPT : FAKE_TRANSLATION;
  const usage = tokens
    ? { type: 'tokens', input_tokens: Math.ceil(duration * 10) + 5, output_tokens: 11, total_tokens: Math.ceil(duration * 10) + 16 }
    : { type: 'duration', seconds: Math.ceil(duration) };
  // As OpenAI: whisper-1 does not stream, and answers whole whatever `stream` says.
  if (fields.stream === 'true' && tokens) return { status: 200, contentType: '', body: Buffer.alloc(0), events: transcriptEvents(text, usage) };
  const plain = (body: string): AudioAnswer => ({ status: 200, contentType: 'text/plain; charset=utf-8', body: Buffer.from(body) });
  const stamp = (seconds: number, comma: boolean) =>
    new Date(seconds * 1000)
      .toISOString()
      .slice(11, 23)
      .replace('.', comma ? ',' : '.');
  switch (format) {
    case 'text':
      return plain(`${text}\n`);
    case 'srt':
      return plain(`1\n${stamp(0, true)} --> ${stamp(duration, true)}\n${text}\n\n`);
    case 'vtt':
      return plain(`WEBVTT\n\n${stamp(0, false)} --> ${stamp(duration, false)}\n${text}\n\n`);
    case 'verbose_json': {
      const granularities = (fields['timestamp_granularities[]'] as string[] | undefined) ?? ['segment'];
      const words = text.split(' ').map((word, i, all) => ({ word, start: (i * duration) / all.length, end: ((i + 1) * duration) / all.length }));
      return json(200, {
        task: api === 'transcriptions' ? 'transcribe' : 'translate',
        language: api === 'transcriptions' ? (fields.language ?? 'english') : 'english',
        duration,
        text,
        ...(granularities.includes('segment') ? { segments: [{ id: 0, seek: 0, start: 0, end: duration, text, tokens: [50364, 440], temperature: 0 }] } : {}),
        ...(granularities.includes('word') ? { words } : {}),
        usage,
      });
    }
    case 'json':
      return json(200, api === 'transcriptions' ? { text, usage } : { text });
    default:
      return refused(`Invalid value: '${format}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'.`, 'response_format', 'invalid_value');
  }
}

export const AUDIO_APIS = new Set(['/v1/audio/speech', '/v1/audio/transcriptions', '/v1/audio/translations']);

/** One call to an audio API: the request as the fake records it (a form's file by name, type and size), and the answer. */
export async function audioCall(path: string, raw: Buffer, contentType: string): Promise<{ recorded: Record<string, unknown>; answer: AudioAnswer }> {
  if (path === '/v1/audio/speech') {
    const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    return { recorded: body, answer: speech(body) };
  }
  const { fields, files } = await readForm(raw, contentType);
  const file = files.find((f) => f.field === 'file')?.file;
  return { recorded: fields, answer: await transcription(path === '/v1/audio/transcriptions' ? 'transcriptions' : 'translations', fields, file) };
}

/** A silent mono 16-bit WAV at 16 kHz lasting `seconds`, for tests to upload: 32,000 bytes of samples a second after its 44-byte header. */
export function wav(seconds: number): Buffer {
  const data = Math.round(seconds * 32_000);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16_000, 24);
  header.writeUInt32LE(32_000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data, 40);
  return Buffer.concat([header, Buffer.alloc(data)]);
}
