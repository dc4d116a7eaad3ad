// Files pasted or dropped onto a terminal: uploaded to ~/uploads (POST /api/uploads), then their
// paths typed at the prompt, shell-quoted and separated by spaces.

import { uploadFile } from './api';

/** Quotes `s` for a POSIX shell; plain paths stay as they are. */
export function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface UploadTarget {
  /** Types `text` at the prompt. */
  type(text: string): void;
  /** Progress and errors for the status line. */
  notify(message: string, kind?: 'info' | 'error'): void;
}

function mib(bytes: number): string {
  return bytes < 1 << 20 ? `${Math.max(1, Math.round(bytes / 1024))} KiB` : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** Uploads `files` one after another and types the paths of those that arrived. */
export async function uploadFiles(files: File[], target: UploadTarget): Promise<string[]> {
  const paths: string[] = [];
  for (const [i, file] of files.entries()) {
    const which = files.length > 1 ? ` (${i + 1}/${files.length})` : '';
    target.notify(`Uploading ${file.name}${which}, ${mib(file.size)}…`);
    try {
      const up = await uploadFile(file, (f) => {
        target.notify(`Uploading ${file.name}${which}: ${Math.round(f * 100)} %`);
      });
      paths.push(up.path);
    } catch (e) {
      target.notify(`Upload of ${file.name} failed: ${(e as Error).message}`, 'error');
    }
  }
  if (paths.length) {
    target.type(paths.map(shellQuote).join(' ') + ' ');
    const where = paths.length === 1 ? paths[0] : `${paths.length} files to ~/uploads`;
    target.notify(`Uploaded ${where}`);
  }
  return paths;
}

function filesOf(data: DataTransfer | null): File[] {
  if (!data) return [];
  return Array.from(data.files ?? []);
}

/**
 * Makes `area` accept dropped and pasted files; `overlay` is shown while files are dragged over.
 * Text pastes are left to xterm.js.
 */
export function acceptFiles(area: HTMLElement, overlay: HTMLElement, onFiles: (files: File[]) => void): void {
  let depth = 0;
  const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  area.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  area.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  area.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  area.addEventListener('drop', (e) => {
    depth = 0;
    overlay.hidden = true;
    const files = filesOf(e.dataTransfer);
    if (!files.length) return;
    e.preventDefault();
    e.stopPropagation();
    onFiles(files);
  });
  // Capture phase: runs before xterm.js's own paste handler on its textarea.
  area.addEventListener(
    'paste',
    (e) => {
      const files = filesOf(e.clipboardData);
      if (!files.length) return;
      e.preventDefault();
      e.stopPropagation();
      onFiles(files);
    },
    { capture: true },
  );
}
