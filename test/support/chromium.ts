import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium through playwright-core; never a downloaded browser. The
 * flags keep it off the network this machine doesn't have (background
 * networking, first-run checks) and inside a container (no sandbox, no GPU).
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}
