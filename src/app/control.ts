import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { findTenantBySlug } from '../queries/tenants.ts';
import { systemAccess } from '../services/authority.ts';
import type { Core } from './index.ts';

/**
 * The local control socket of a process that owns the embedded database
 * (SPEC §1 "One owner"): CLI commands that must work while Tessera runs go
 * through the running server instead of opening the data directory behind its
 * back. The socket is a file in the data directory, readable and writable by
 * its owner only, so it grants nothing the data directory doesn't already.
 * Only the commands listed here are served.
 */
export const REMOTE_COMMANDS = ['rotate-client-secret'] as const;
type RemoteCommand = (typeof REMOTE_COMMANDS)[number];

export const controlSocketPath = (dataDir: string) => join(resolve(dataDir), 'tessera.sock');

async function execute(core: Core, command: RemoteCommand, args: Record<string, string | undefined>): Promise<unknown> {
  const tenant = await findTenantBySlug(core.db, args.tenant ?? core.config.TESSERA_BOOTSTRAP_TENANT ?? 'default');
  if (!tenant) throw new Error(`no tenant "${args.tenant}"`);
  if (!args.client) throw new Error('--client is required');
  // The same service method (and audit event, actor `system`) as the CLI with the server stopped.
  return { client_secret: await core.services.clients.rotateSecret(systemAccess(tenant.id), args.client) };
}

/** Serves REMOTE_COMMANDS on the data directory's socket; one JSON line in, one out. */
export async function startControlSocket(core: Core, dataDir: string): Promise<{ close(): void }> {
  const path = controlSocketPath(dataDir);
  rmSync(path, { force: true });
  const server: Server = createServer((socket) => {
    let input = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      input += chunk;
      if (!input.includes('\n') && input.length < 16_384) return;
      let request: { command?: string; args?: Record<string, string | undefined> } = {};
      try {
        request = JSON.parse(input.split('\n')[0]!);
      } catch {
        socket.end(`${JSON.stringify({ ok: false, error: 'malformed request' })}\n`);
        return;
      }
      if (!(REMOTE_COMMANDS as readonly string[]).includes(request.command ?? '')) {
        socket.end(`${JSON.stringify({ ok: false, error: `"${request.command}" is not served by the running server` })}\n`);
        return;
      }
      execute(core, request.command as RemoteCommand, request.args ?? {}).then(
        (result) => socket.end(`${JSON.stringify({ ok: true, result })}\n`),
        (err: unknown) => socket.end(`${JSON.stringify({ ok: false, error: (err as { message?: string }).message ?? 'failed' })}\n`),
      );
    });
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(path, () => ok()));
  chmodSync(path, 0o600);
  return {
    close() {
      server.close();
      rmSync(path, { force: true });
    },
  };
}

/** Sends one command to the running server's control socket (the CLI's way in while the data directory is held). */
export function sendControl(dataDir: string, command: string, args: Record<string, string | undefined>): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  return new Promise((ok, fail) => {
    const socket = createConnection(controlSocketPath(dataDir));
    let output = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (output += d));
    socket.on('error', fail);
    socket.on('end', () => {
      try {
        ok(JSON.parse(output));
      } catch (err) {
        fail(err);
      }
    });
    socket.write(`${JSON.stringify({ command, args })}\n`);
  });
}
