// Voice dictation through the browser's Web Speech API (SpeechRecognition, prefixed in Chromium
// and Safari): the microphone button starts listening, every final phrase is typed into the
// active terminal as text, never with Enter (the user reads it and presses Enter), and the button
// shows whether it listens. Where the browser has no speech recognition the button says so
// instead (disabled look, a notice on click). The browser may send the audio to its vendor's
// speech service; kiln itself receives only the typed text.

import { byId } from './dom';

/** The part of the Web Speech API used here (TypeScript's DOM types lack it). */
interface Recognition {
  continuous: boolean;
  interimResults: boolean;
  lang: string;
  start(): void;
  stop(): void;
  onresult: ((e: { resultIndex: number; results: ArrayLike<{ isFinal: boolean; 0: { transcript: string } }> }) => void) | null;
  onerror: ((e: { error: string }) => void) | null;
  onend: (() => void) | null;
}
type RecognitionCtor = new () => Recognition;

/** The browser's speech recognition, if it has one. */
export function speechRecognition(): RecognitionCtor | undefined {
  const w = window as unknown as { SpeechRecognition?: RecognitionCtor; webkitSpeechRecognition?: RecognitionCtor };
  return w.SpeechRecognition ?? w.webkitSpeechRecognition;
}

/** What a phrase becomes at the prompt: one line, no Enter, a space before the next phrase. */
export function dictatedText(transcript: string): string {
  const t = transcript.replace(/[\r\n]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '').trim();
  return t ? `${t} ` : '';
}

export interface VoiceHooks {
  /** Types text into the active terminal; false when there is none. */
  type(text: string): boolean;
  notify(message: string, kind?: 'info' | 'error'): void;
  /** Gives the keyboard back to the active terminal (Enter then runs the dictated line). */
  focus(): void;
}

const ERRORS: Record<string, string> = {
  'not-allowed': 'Voice dictation: the browser was not allowed to use the microphone.',
  'service-not-allowed': 'Voice dictation: the browser’s speech service is not allowed here.',
  'no-speech': 'Voice dictation: no speech was heard.',
  'audio-capture': 'Voice dictation: no microphone was found.',
  network: 'Voice dictation: the browser’s speech service cannot be reached.',
};

/** Wires the microphone button (index.html's `#voice`). */
export function startVoice(hooks: VoiceHooks): { listening: () => boolean; available: boolean } {
  const button = byId<HTMLButtonElement>('voice');
  const Ctor = speechRecognition();
  if (!Ctor) {
    button.setAttribute('aria-disabled', 'true');
    button.dataset.state = 'unavailable';
    button.title = 'Voice dictation is not available in this browser';
    button.setAttribute('aria-label', 'Voice dictation (not available in this browser)');
    button.addEventListener('click', () => hooks.notify('Voice dictation is not available in this browser (it has no speech recognition).', 'error'));
    return { listening: () => false, available: false };
  }
  let rec: Recognition | undefined;
  const set = (on: boolean) => {
    button.setAttribute('aria-pressed', String(on));
    button.dataset.state = on ? 'listening' : 'idle';
    button.title = on ? 'Listening: click to stop dictating' : 'Dictate: speak, and the words are typed (no Enter)';
  };
  set(false);
  button.addEventListener('click', () => {
    hooks.focus();
    if (rec) {
      rec.stop();
      return;
    }
    const r = new Ctor();
    r.continuous = true;
    r.interimResults = false;
    r.lang = navigator.language || 'en-US';
    r.onresult = (e) => {
      for (let i = e.resultIndex; i < e.results.length; i++) {
        const res = e.results[i]!;
        if (!res.isFinal) continue;
        const text = dictatedText(res[0].transcript);
        if (text && !hooks.type(text)) hooks.notify('Voice dictation: no terminal to type into.', 'error');
      }
    };
    r.onerror = (e) => hooks.notify(ERRORS[e.error] ?? `Voice dictation stopped: ${e.error}.`, 'error');
    r.onend = () => {
      if (rec === r) rec = undefined;
      set(false);
    };
    rec = r;
    try {
      r.start();
      set(true);
      hooks.notify('Listening: what you say is typed at the prompt (press Enter yourself).', 'info');
    } catch (e) {
      rec = undefined;
      set(false);
      hooks.notify(`Voice dictation could not start: ${(e as Error).message}`, 'error');
    }
  });
  return { listening: () => rec !== undefined, available: true };
}
