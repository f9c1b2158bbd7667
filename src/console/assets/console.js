// Tessera console: small progressive enhancements. Every page works without
// this file; the server enforces every rule these controls show.
'use strict';

// Forms that ask before doing something drastic.
document.addEventListener('submit', (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// The role editor: slug from name, dependency locks, master checkbox per area, save enabled when complete.
const SLUG_MAX = 64;
const slugOf = (name) =>
  name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, SLUG_MAX - 8).replace(/-+$/g, '') || 'role';

for (const form of document.querySelectorAll('form[data-role-editor]')) {
  const name = form.querySelector('input[name="name"]');
  const slug = form.querySelector('input[name="slug"]');
  const save = form.querySelector('button[data-save]');
  const boxes = [...form.querySelectorAll('input[type="checkbox"][name="capabilities"]')];
  const byId = new Map(boxes.map((b) => [b.value, b]));
  const requiresOf = (box) => (box.dataset.requires ? box.dataset.requires.split(' ') : []);

  if (name && slug && !slug.readOnly) {
    slug.addEventListener('input', () => (slug.dataset.touched = '1'));
    name.addEventListener('input', () => {
      if (!slug.dataset.touched) slug.value = slugOf(name.value);
    });
  }

  // A capability another checked one requires is locked: checked, labelled "(required)".
  const refreshLocks = () => {
    // Everything a checked capability requires, transitively.
    const needed = new Set();
    const stack = boxes.filter((b) => b.checked);
    while (stack.length) {
      for (const r of requiresOf(stack.pop())) {
        if (!needed.has(r) && byId.has(r)) {
          needed.add(r);
          stack.push(byId.get(r));
        }
      }
    }
    for (const box of boxes) {
      const locked = needed.has(box.value);
      if (locked) box.checked = true;
      box.dataset.locked = locked ? '1' : '';
      const note = form.querySelector(`[data-required-for="${CSS.escape(box.value)}"]`);
      if (note) note.hidden = !locked;
    }
    for (const master of form.querySelectorAll('input[data-area-master]')) {
      const inArea = boxes.filter((b) => b.dataset.area === master.dataset.areaMaster);
      const on = inArea.filter((b) => b.checked).length;
      master.checked = on === inArea.length && on > 0;
      master.indeterminate = on > 0 && on < inArea.length;
    }
    if (save) save.disabled = !(name && name.value.trim()) || !boxes.some((b) => b.checked);
  };
  const uncheckDependents = (id) => {
    for (const box of boxes) {
      if (box.checked && requiresOf(box).includes(id)) {
        box.checked = false;
        uncheckDependents(box.value);
      }
    }
  };
  for (const box of boxes) {
    box.addEventListener('change', () => {
      if (!box.checked) uncheckDependents(box.value);
      refreshLocks();
    });
  }
  for (const master of form.querySelectorAll('input[data-area-master]')) {
    master.addEventListener('change', () => {
      for (const box of boxes) if (box.dataset.area === master.dataset.areaMaster) box.checked = master.checked;
      if (!master.checked) for (const box of boxes) if (box.dataset.area === master.dataset.areaMaster) uncheckDependents(box.value);
      refreshLocks();
    });
  }
  if (name) name.addEventListener('input', refreshLocks);
  refreshLocks();
}

// Users list: "select this page".
for (const all of document.querySelectorAll('input[data-select-page]')) {
  const boxes = [...document.querySelectorAll('input[type="checkbox"][name="selected"]')];
  all.addEventListener('change', () => boxes.forEach((b) => (b.checked = all.checked)));
}

// A running job: poll its status, move the progress bar, show the counts when it ends.
for (const box of document.querySelectorAll('[data-job-status]')) {
  const bar = box.querySelector('progress');
  const text = box.querySelector('[data-job-text]');
  const tick = async () => {
    try {
      const res = await fetch(box.dataset.jobStatus, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      if (res.ok) {
        const job = await res.json();
        if (bar && job.total) {
          bar.max = job.total;
          bar.value = job.done;
        }
        if (text) text.textContent = job.summary;
        if (job.finished) {
          window.location.reload();
          return;
        }
      }
    } catch {
      // The next tick tries again.
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}

// Branding: live preview and the accent colour's contrast against white button text.
for (const form of document.querySelectorAll('form[data-branding]')) {
  const frame = document.querySelector('iframe[data-preview]');
  const out = form.querySelector('[data-contrast]');
  let timer;
  const luminance = (hex) => {
    const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
    if (!m) return null;
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const update = () => {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const key of ['display_name', 'logo_url', 'accent_color']) params.set(key, String(data.get(key) ?? ''));
    if (frame) frame.src = `/console/branding/preview?${params}`;
    const l = luminance(String(data.get('accent_color') ?? ''));
    if (out) {
      if (l === null) {
        out.textContent = 'Enter a colour as #rrggbb to check its contrast.';
        out.className = 'contrast';
      } else {
        const ratio = 1.05 / (l + 0.05);
        const pass = ratio >= 4.5;
        out.textContent = `Contrast with white button text: ${ratio.toFixed(2)}:1 — ${pass ? 'passes' : 'fails'} WCAG AA (4.5:1).`;
        out.className = `contrast ${pass ? 'pass' : 'fail'}`;
      }
    }
  };
  form.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
}
