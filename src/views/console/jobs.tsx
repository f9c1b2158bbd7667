import { fmtDate, Layout, type Notice, type Viewer } from './layout.tsx';

export interface JobSummary {
  id: string;
  type: 'bulk_role_assignment' | 'audit_export';
  status: 'queued' | 'running' | 'completed' | 'failed';
  done: number;
  total: number;
  finished: boolean;
  summary: string;
  created_at: string;
  finished_at: string | null;
  counts?: { changed: number; unchanged: number; failed: number; failures: Array<{ user: string; reason: string }> } | undefined;
  download?: { href: string; rows: number; bytes: number; sha256: string; expires_at: string } | undefined;
  error: string | null;
}

/** A job's page: a live progress bar while it runs (console.js polls the JSON twin), the outcome when it ends. */
export function JobPage(props: { viewer: Viewer; notice?: Notice | undefined; job: JobSummary }) {
  const { job } = props;
  const title = job.type === 'bulk_role_assignment' ? 'Bulk role change' : 'Audit export';
  return (
    <Layout title={title} section={job.type === 'audit_export' ? 'audit' : 'users'} viewer={props.viewer} notice={props.notice}>
      <div data-job-status={job.finished ? undefined : `/console/jobs/${job.id}/status`} aria-live="polite">
        <p>
          Status: <strong data-job-text>{job.summary}</strong>
        </p>
        <progress max={Math.max(job.total, 1)} value={job.finished ? Math.max(job.total, 1) : job.done} aria-label={`${title} progress`}>
          {job.done} of {job.total}
        </progress>
        {job.finished ? null : (
          <noscript>
            <p>
              <a href={`/console/jobs/${job.id}`}>Refresh</a> to see its progress.
            </p>
          </noscript>
        )}
      </div>
      <p class="muted">
        Started {fmtDate(job.created_at)}
        {job.finished_at ? `, finished ${fmtDate(job.finished_at)}` : ''}.
      </p>
      {job.counts ? (
        <table>
          <caption class="muted">Outcome</caption>
          <tbody>
            <tr>
              <th scope="row">Changed</th>
              <td data-count="changed">{job.counts.changed}</td>
            </tr>
            <tr>
              <th scope="row">Unchanged</th>
              <td data-count="unchanged">{job.counts.unchanged}</td>
            </tr>
            <tr>
              <th scope="row">Failed</th>
              <td data-count="failed">{job.counts.failed}</td>
            </tr>
          </tbody>
        </table>
      ) : null}
      {job.counts?.failures.length ? (
        <>
          <h2>Failures</h2>
          <ul>
            {job.counts.failures.slice(0, 100).map((f) => (
              <li>
                <a href={`/console/users/${f.user}`}>{f.user}</a>: {f.reason}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {job.download ? (
        <p>
          <a class="button" href={job.download.href}>
            Download the export
          </a>{' '}
          <span class="muted">
            {job.download.rows} events, {job.download.bytes} bytes, SHA-256 <code>{job.download.sha256}</code>, available until {fmtDate(job.download.expires_at)}
          </span>
        </p>
      ) : null}
      {job.error ? <p class="notice error">{job.error}</p> : null}
    </Layout>
  );
}
