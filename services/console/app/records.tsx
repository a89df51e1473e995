import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

/** What the audit and live requests pages share: a table of records, each opened in full by its first cell's button. */

export interface Column<T> {
  title: string;
  cell: (row: T) => ComponentChildren;
}

/**
 * Rows of `rows`, one per record; the first column is a button that opens the
 * record's whole JSON below its row (a button, so the keyboard opens it too).
 * `more` adds what else the page knows of the record when it is opened.
 */
export function RecordTable<T>({
  rows,
  id,
  columns,
  label,
  empty,
  more,
}: {
  rows: T[];
  id: (row: T) => string;
  columns: Column<T>[];
  label: string;
  empty: string;
  more?: (row: T) => ComponentChildren;
}) {
  const [open, setOpen] = useState<string | undefined>();
  return (
    <div class="table">
      <table aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.title}>{c.title}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.flatMap((row) => {
            const key = id(row);
            const shown = open === key;
            const [first, ...rest] = columns;
            return [
              <tr key={key} data-record-id={key}>
                <td>
                  <button type="button" class="link" aria-expanded={shown} onClick={() => setOpen(shown ? undefined : key)}>
                    {first!.cell(row)}
                  </button>
                </td>
                {rest.map((c) => (
                  <td key={c.title}>{c.cell(row)}</td>
                ))}
              </tr>,
              shown && (
                <tr key={`${key}-record`} class="record">
                  <td colSpan={columns.length}>
                    <figure>
                      <figcaption>Record {key}</figcaption>
                      <pre>{JSON.stringify(row, null, 2)}</pre>
                    </figure>
                    {more?.(row)}
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
      {rows.length === 0 && <p class="empty">{empty}</p>}
    </div>
  );
}

/** A time as the reader's clock shows it, machine-readable in the markup. */
export const When = ({ at }: { at: string }) => <time dateTime={at}>{new Date(at).toLocaleString()}</time>;

/** A datetime-local field's value (the reader's local time) as RFC 3339, or undefined when empty. */
export const instant = (local: string) => (local ? new Date(local).toISOString() : undefined);

/** Query parameters without the empty ones. */
export const params = (values: Record<string, string | undefined>) =>
  new URLSearchParams(Object.entries(values).filter((e): e is [string, string] => Boolean(e[1])));
