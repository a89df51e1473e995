import type {
  EmscriptenModuleLoaderOptions,
  QuickJSContext,
  QuickJSSyncVariant,
  QuickJSDeferredPromise,
  QuickJSHandle,
  QuickJSRuntime,
} from 'quickjs-emscripten-core';
import { onFirstUse } from '../../kit/first-use.js';
import { serverGlobal } from './tool-files.js';

/**
 * Runs a model's program in QuickJS compiled to WebAssembly: a JavaScript
 * engine with its own heap and nothing of the host's (no process, require,
 * import, network, file system or timers). Each run gets a fresh WebAssembly
 * instance, so no state survives from one program to the next. The program
 * reaches the host only through the tool functions it is given, each an async
 * call the host answers; the host enforces the limits on time, memory, tool
 * calls and the size of what comes back.
 */

export interface SandboxLimits {
  /** Wall time of the whole run, tool calls included. */
  readonly timeMs: number;
  readonly memoryBytes: number;
  readonly maxToolCalls: number;
  /** Largest result (as JSON) handed back. */
  readonly maxResultBytes: number;
  /** Most console.log text kept; the rest is cut. */
  readonly maxLogBytes: number;
}

/** Runs one tool call for the program: resolves to the value the program gets, rejects with the error it sees. */
export type ToolBridge = (tool: string, argumentsJson: string) => Promise<unknown>;

export type RunOutcome =
  | { readonly ok: true; readonly resultJson: string; readonly logs: string; readonly toolCalls: number }
  | { readonly ok: false; readonly error: string; readonly reason: StopReason; readonly logs: string; readonly toolCalls: number };

/** Why a run ended without a result, as its record (CodeRun.outcome) says. */
export type StopReason = 'time_limit' | 'memory_limit' | 'tool_call_limit' | 'result_limit' | 'program_error' | 'busy' | 'sandbox_failed';

/** Why a run was stopped, as the model reads it. */
class Stopped extends Error {
  constructor(
    message: string,
    readonly reason: StopReason = 'program_error',
  ) {
    super(message);
  }
}

const engine = onFirstUse(async () => {
  const [core, variant] = await Promise.all([import('quickjs-emscripten-core'), import('@jitl/quickjs-wasmfile-release-sync')]);
  // The package's types describe its CommonJS face; imported as ESM, its default export is the variant itself.
  return { core, variant: variant.default as unknown as QuickJSSyncVariant };
});

/** The compiler, on the main thread only: sandbox workers get programs already compiled. */
const compiler = onFirstUse(() => import('esbuild'));

// Node has WebAssembly.Memory; the project's lib (ES2023, no DOM) declares only its type.
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (size: { initial: number; maximum: number }) => NonNullable<EmscriptenModuleLoaderOptions['wasmMemory']> };
  }
).WebAssembly.Memory;

/** WebAssembly memory comes in pages of 64 KiB; the engine starts with 16 MiB. */
const PAGE = 65_536;
const INITIAL_PAGES = 256;

/**
 * A fresh engine whose whole WebAssembly memory is capped: QuickJS's own
 * accounting does not see every allocation in this build, the instance's memory
 * does. At the cap, allocations fail and the program gets "out of memory".
 */
async function newEngine(memoryBytes: number): Promise<QuickJSContext> {
  const { core, variant } = await engine();
  const maximum = Math.max(INITIAL_PAGES, Math.floor(memoryBytes / PAGE));
  const wasmMemory = new WasmMemory({ initial: INITIAL_PAGES, maximum });
  // A run that hit the stack limit can trip an assertion in the engine as it is freed: the instance is dropped
  // anyway, so the engine's own message to stderr would only be noise.
  const options = { wasmMemory, printErr: () => undefined } as EmscriptenModuleLoaderOptions;
  const module = await core.newQuickJSWASMModuleFromVariant(core.newVariant(variant, { emscriptenModule: options }));
  return module.newContext();
}

/** TypeScript to JavaScript (types stripped), the program's body wrapped so it may `await` and `return`, its value as JSON. */
async function compile(source: string): Promise<string> {
  const esbuild = await compiler();
  try {
    // The body starts on the wrapper's first line, so esbuild's line numbers are the program's.
    const program = `(async () => {${source}\n})().then((value) => JSON.stringify(value === undefined ? null : value))`;
    const { code } = await esbuild.transform(program, { loader: 'ts', target: 'es2022', logLevel: 'silent' });
    return code;
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { line: number; column: number } | null }[] }).errors ?? [];
    const first = errors[0];
    if (!first) throw err;
    throw new Stopped(`SyntaxError: ${first.text}${first.location ? ` (line ${first.location.line})` : ''}`);
  }
}

/** Defines, inside the engine, one global per server whose methods call the host; any tool name is passed on, so a refusal comes from governance. */
function prelude(servers: ReadonlyMap<string, readonly string[]>): string {
  const globals = [...servers].map(
    ([server, tools]) => `globalThis[${JSON.stringify(serverGlobal(server))}] = server(${JSON.stringify(server)}, ${JSON.stringify(tools)});`,
  );
  return `(() => {
  const call = globalThis.__call, log = globalThis.__log;
  delete globalThis.__call;
  delete globalThis.__log;
  const caller = (server, tool) => async (input) => JSON.parse(await call(server + '.' + tool, JSON.stringify(input === undefined ? {} : input)));
  const server = (name, tools) => new Proxy(Object.fromEntries(tools.map((tool) => [tool, caller(name, tool)])), {
    get: (own, tool) => (typeof tool !== 'string' || tool === 'then' ? undefined : own[tool] ?? caller(name, tool)),
  });
  ${globals.join('\n  ')}
  globalThis.console = { log: (...values) => log(values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' ')) };
})();`;
}

/** A program compiled for the engine, or the syntax error the model reads. */
export type Compiled = { readonly ok: true; readonly code: string } | { readonly ok: false; readonly error: string };

/** Compiles a program on the calling thread (esbuild runs in its own process, one for the gateway). */
export async function compileProgram(source: string): Promise<Compiled> {
  try {
    return { ok: true, code: await compile(source) };
  } catch (err) {
    return { ok: false, error: err instanceof Stopped ? err.message : `Error: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Runs a compiled program that may call the given servers' tools; every call goes through `bridge`. */
export async function runCompiled(
  code: string,
  servers: ReadonlyMap<string, readonly string[]>,
  bridge: ToolBridge,
  limits: SandboxLimits,
): Promise<RunOutcome> {
  const run = new Run(bridge, limits);
  try {
    const vm = await newEngine(limits.memoryBytes);
    try {
      return { ok: true, resultJson: await run.execute(vm, prelude(servers), code), logs: run.logs, toolCalls: run.toolCalls };
    } finally {
      run.close(vm);
    }
  } catch (err) {
    const error = err instanceof Stopped ? err.message : `Error: ${err instanceof Error ? err.message : String(err)}`;
    const stopped = err instanceof Stopped ? err.reason : 'program_error';
    // The tool call limit throws inside the program: a program that ends on that error (or another) after it was hit.
    const reason = stopped === 'program_error' && run.toolCalls > limits.maxToolCalls ? 'tool_call_limit' : stopped;
    return { ok: false, error, reason, logs: run.logs, toolCalls: run.toolCalls };
  }
}

/** What the model reads when its program runs out of time, whichever thread stopped it. */
export const timeLimitMessage = (limits: Pick<SandboxLimits, 'timeMs'>): string =>
  `The program ran out of time: the limit is ${limits.timeMs} ms, tool calls included.`;

/** One program's run: its engine, the host calls in flight, what it logged. */
class Run {
  logs = '';
  toolCalls = 0;
  private readonly pending = new Set<QuickJSDeferredPromise>();
  private closed = false;
  private readonly deadline: number;

  constructor(
    private readonly bridge: ToolBridge,
    private readonly limits: SandboxLimits,
  ) {
    this.deadline = Date.now() + limits.timeMs;
  }

  async execute(vm: QuickJSContext, prelude: string, code: string): Promise<string> {
    const runtime = vm.runtime;
    runtime.setMaxStackSize(512 * 1024);
    runtime.setInterruptHandler(() => Date.now() > this.deadline);
    vm.newFunction('__call', (tool, args) => this.call(vm, vm.getString(tool), vm.getString(args))).consume((fn) => vm.setProp(vm.global, '__call', fn));
    vm.newFunction('__log', (text) => void this.log(vm.getString(text))).consume((fn) => vm.setProp(vm.global, '__log', fn));
    this.unwrap(vm, vm.evalCode(prelude, 'prelude.js')).dispose();
    const promise = this.unwrap(vm, vm.evalCode(code, 'program.js'));
    const settled = vm.resolvePromise(promise);
    promise.dispose();
    this.drain(runtime);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.timeLimit()), Math.max(0, this.deadline - Date.now()));
    });
    try {
      const resultJson = this.unwrap(vm, await Promise.race([settled, timeout])).consume((value) => vm.getString(value));
      const bytes = Buffer.byteLength(resultJson);
      if (bytes > this.limits.maxResultBytes)
        throw new Stopped(`The program's result is ${bytes} bytes of JSON, over the limit of ${this.limits.maxResultBytes}: return less.`, 'result_limit');
      return resultJson;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A tool call from the program: a promise inside the engine, settled when the host's call ends. */
  private call(vm: QuickJSContext, tool: string, argumentsJson: string): QuickJSHandle {
    const deferred = vm.newPromise();
    this.pending.add(deferred);
    const answer =
      ++this.toolCalls > this.limits.maxToolCalls
        ? Promise.reject(new Error(`Tool call limit reached: a program may make at most ${this.limits.maxToolCalls} tool calls.`))
        : this.bridge(tool, argumentsJson);
    void answer
      .then(
        (value) => ({ json: JSON.stringify(value ?? null) }),
        (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
      )
      .then((settled) => {
        if (this.closed) return;
        this.pending.delete(deferred);
        if ('json' in settled) vm.newString(settled.json).consume((value) => deferred.resolve(value));
        else vm.newError({ name: 'ToolError', message: settled.error }).consume((error) => deferred.reject(error));
        deferred.dispose();
        this.drain(vm.runtime);
      });
    return deferred.handle;
  }

  private log(text: string): void {
    const room = this.limits.maxLogBytes - Buffer.byteLength(this.logs);
    if (room <= 0) return;
    const line = `${text}\n`;
    this.logs += Buffer.byteLength(line) <= room ? line : `${Buffer.from(line).subarray(0, room).toString('utf8')}…\n`;
  }

  /** Runs the engine's queued jobs (promise reactions); the interrupt handler bounds them. */
  private drain(runtime: QuickJSRuntime): void {
    if (this.closed) return;
    const result = runtime.executePendingJobs();
    if (result.error) result.error.dispose();
  }

  /** The value of an engine result, or the program's error as the model should read it. */
  private unwrap(vm: QuickJSContext, result: ReturnType<QuickJSContext['evalCode']>): QuickJSHandle {
    if (!result.error) return result.value;
    const error = vm.dump(result.error) as { name?: string; message?: string } | string;
    result.error.dispose();
    const text = typeof error === 'object' && error !== null ? `${error.name ?? 'Error'}: ${error.message ?? ''}` : String(error);
    if (/interrupted/.test(text) || Date.now() > this.deadline) throw this.timeLimit();
    if (/out of memory/i.test(text))
      throw new Stopped(`The program ran out of memory: the limit is ${Math.round(this.limits.memoryBytes / 1024 / 1024)} MB.`, 'memory_limit');
    throw new Stopped(text);
  }

  private timeLimit(): Stopped {
    return new Stopped(timeLimitMessage(this.limits), 'time_limit');
  }

  /** Frees the engine; host calls still in flight find the run closed and are dropped. */
  close(vm: QuickJSContext): void {
    this.closed = true;
    for (const deferred of this.pending) deferred.dispose();
    this.pending.clear();
    try {
      vm.dispose();
      vm.runtime.dispose();
    } catch {
      // A run stopped mid-way can leave objects the engine cannot account for; its instance is dropped with it.
    }
  }
}
