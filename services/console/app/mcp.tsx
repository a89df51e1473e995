import { api } from './api.js';
import { ConfirmButton, ErrorLine, useLoaded } from './forms.js';

/** One server of GET /admin/mcp/servers. */
interface Server {
  name: string;
  transport: string;
  state: string;
  error: string | null;
  approved: boolean;
  held: number;
  last_seen_at: string | null;
  tools: { name: string; description: string; state: 'approved' | 'pending' | 'held' }[];
}

const TOOL_STATE = {
  approved: 'approved',
  pending: 'not approved yet',
  held: 'held: changed since approval',
};

/** What a server's approval stands at, in a few words. */
const approval = (s: Server) => (!s.approved ? 'not approved' : s.held ? `approved; ${s.held} held` : 'approved');

/**
 * The MCP servers routing is connected to, their tools and their approval. Approving pins each tool's definition as it
 * is now; a tool that changes afterwards is held (not offered nor called) until the server is approved again, which
 * the page offers once the held tool has been read.
 */
export function McpPage({ canManage }: { canManage: boolean }) {
  const { data, error, run } = useLoaded(async () => (await api<{ data: Server[] }>('GET', '/admin/mcp/servers')).data, [] as Server[]);
  const path = (name: string) => `/admin/mcp/servers/${encodeURIComponent(name)}`;
  return (
    <section aria-labelledby="mcp-title">
      <h1 id="mcp-title">MCP servers</h1>
      <ErrorLine error={error} />
      <button type="button" class="refresh" onClick={() => void run()}>
        Refresh
      </button>
      <div class="table">
        <table aria-label="MCP servers">
          <thead>
            <tr>
              <th>Server</th>
              <th>Connection</th>
              <th>Approval</th>
              <th>Tools</th>
              {canManage && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {data.map((s) => (
              <tr key={s.name}>
                <td>
                  {s.name} <span class="hint">({s.transport})</span>
                </td>
                <td>
                  {s.state}
                  {s.error && <span class="error"> · {s.error}</span>}
                </td>
                <td>{approval(s)}</td>
                <td>
                  {s.tools.length === 0 ? (
                    <span class="hint">none listed</span>
                  ) : (
                    <ul class="tools" aria-label={`Tools of ${s.name}`}>
                      {s.tools.map((t) => (
                        <li key={t.name} class={`tool ${t.state}`} title={t.description}>
                          {t.name}: {TOOL_STATE[t.state]}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                {canManage && (
                  <td class="actions">
                    {s.state === 'ready' && (!s.approved || s.held > 0) && (
                      <button type="button" onClick={() => void run(() => api('POST', `${path(s.name)}/approve`))}>
                        {s.approved ? 'Approve again' : 'Approve'}
                      </button>
                    )}
                    {s.approved && (
                      <ConfirmButton label="Withdraw approval" what={`of ${s.name}`} onConfirm={() => run(() => api('DELETE', `${path(s.name)}/approval`))} />
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {data.length === 0 && <p class="empty">No MCP server is configured (routing.mcp.servers).</p>}
      </div>
    </section>
  );
}
