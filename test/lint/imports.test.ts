import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * Imports flow one way (http → services → queries/db; oidc, jobs and the
 * console beside http; app composes). `npm test` runs `eslint .` first; this
 * proves the zones refuse each kind of back edge, so a loosened config fails too.
 */
const eslint = new ESLint();

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: file });
  return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

describe('import direction (eslint zones)', () => {
  it.each([
    ['src/services/x.ts', "import { jobView } from '../http/routes/api/jobs.ts';\nvoid jobView;\n"],
    ['src/services/x.ts', "import { createExpiryScheduler } from '../jobs/expiry.ts';\nvoid createExpiryScheduler;\n"],
    ['src/services/x.ts', "import { layout } from '../views/layout.ts';\nvoid layout;\n"],
    ['src/queries/x.ts', "import { resolveEntitlement } from '../entitlements/resolve.ts';\nvoid resolveEntitlement;\n"],
    ['src/queries/x.ts', "import { createRoleService } from '../services/roles.ts';\nvoid createRoleService;\n"],
    ['src/http/routes/x.ts', "import { findUserByEmail } from '../../queries/users.ts';\nvoid findUserByEmail;\n"],
    ['src/http/routes/x.ts', "import { createCore } from '../../app/index.ts';\nvoid createCore;\n"],
    ['src/oidc/x.ts', "import { mountRoutes } from '../http/api/route.ts';\nvoid mountRoutes;\n"],
    ['src/views/x.ts', "import { rows } from '../db/client.ts';\nvoid rows;\n"],
  ])('%s may not import %s', async (file, code) => {
    expect(await problems(file, code)).toHaveLength(1);
  });

  it('allows the edges that go the right way', async () => {
    expect(await problems('src/http/routes/x.ts', "import type { ClientRow } from '../../queries/clients.ts';\nimport { systemAccess } from '../../services/authority.ts';\nexport type T = ClientRow;\nvoid systemAccess;\n")).toEqual([]);
    expect(await problems('src/services/x.ts', "import { findRoleBySlug } from '../queries/roles.ts';\nvoid findRoleBySlug;\n")).toEqual([]);
    expect(await problems('src/app/x.ts', "import { interactionRoutes } from '../http/routes/interaction.ts';\nvoid interactionRoutes;\n")).toEqual([]);
  });
});
