// The console's only way to the server: the public REST API with the signed-in token.

const TOKEN_KEY = "dsb.console.token";

/** A failed request as the API describes it: a sentence, a stable code, the HTTP status. */
export class ApiError extends Error {
  constructor(message: string, readonly code: string, readonly status: number, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = "ApiError";
  }
}

let token: string | null = localStorage.getItem(TOKEN_KEY);
const signedOutListeners = new Set<(reason: string) => void>();

export const session = {
  token: () => token,
  signIn(t: string) {
    token = t;
    localStorage.setItem(TOKEN_KEY, t);
  },
  signOut(reason = "") {
    token = null;
    localStorage.removeItem(TOKEN_KEY);
    for (const l of signedOutListeners) l(reason);
  },
  onSignedOut(l: (reason: string) => void) {
    signedOutListeners.add(l);
    return () => { signedOutListeners.delete(l); };
  },
};

/** The sentence shown on the sign-in page when the server refuses the token. */
function refusedSentence(message: string): string {
  if (/expired/i.test(message)) return "Your token has expired. Paste a new one to continue.";
  return `The server refused the token (${message}). Paste a valid token to continue.`;
}

async function failure(res: Response): Promise<ApiError> {
  let body: { error?: string; code?: string; details?: Record<string, unknown> } = {};
  try { body = await res.json(); } catch { /* not JSON: a proxy's page */ }
  const message = body.error ?? `The server answered ${res.status} ${res.statusText || ""}`.trim();
  const err = new ApiError(message, body.code ?? "HTTP_" + res.status, res.status, body.details);
  if (res.status === 401) session.signOut(refusedSentence(message));
  return err;
}

export interface RequestOpts extends Omit<RequestInit, "body"> {
  json?: unknown;
  body?: BodyInit;
}

/** Sends a request with the token; a 401 signs out with a sentence for the sign-in page. */
export async function send(path: string, opts: RequestOpts = {}): Promise<Response> {
  const { json, ...init } = opts;
  const headers = new Headers(init.headers);
  if (token) headers.set("authorization", `Bearer ${token}`);
  if (json !== undefined) headers.set("content-type", "application/json");
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError("The server cannot be reached. Check that it is running and reload.", "NETWORK", 0);
  }
  if (!res.ok) throw await failure(res);
  return res;
}

/** A JSON call; `{success:false}` answers (a failed connection test) throw as ApiError too. */
export async function api<T>(path: string, opts: RequestOpts = {}): Promise<T> {
  const res = await send(path, opts);
  const body = (await res.json()) as T & { success?: boolean; error?: string; code?: string; details?: Record<string, unknown> };
  if (body.success === false) throw new ApiError(body.error ?? "Request failed", body.code ?? "ERROR", res.status, body.details);
  return body;
}

/** Uploads a file with progress of the bytes sent (fetch cannot report upload progress; XHR can). */
export function uploadFile(file: File, name: string, onProgress: (sent: number, total: number) => void, signal?: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/data/upload");
    if (token) xhr.setRequestHeader("authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError("The upload was interrupted: the server could not be reached.", "NETWORK", 0));
    xhr.onabort = () => reject(new ApiError("Upload cancelled.", "CANCELLED", 0));
    xhr.onload = () => {
      let body: { success?: boolean; error?: string; code?: string } = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body.success !== false) return resolve(body);
      if (xhr.status === 401) session.signOut(refusedSentence(body.error ?? "unauthorized"));
      reject(new ApiError(body.error ?? `Upload failed (${xhr.status})`, body.code ?? "HTTP_" + xhr.status, xhr.status));
    };
    signal?.addEventListener("abort", () => xhr.abort());
    const form = new FormData();
    form.append("file", file);
    if (name.trim()) form.append("name", name.trim());
    xhr.send(form);
  });
}
