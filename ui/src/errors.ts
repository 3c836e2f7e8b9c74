// Errors from the app's commands, as src-tauri/src/error.rs sends them: a stable code that
// decides what the page does, and a sentence it shows as it is. Nothing here reads the words.

/** The codes of `AppErrorCode` in src-tauri/src/error.rs. */
export type ErrorCode =
  | "no_name"
  | "invalid_name"
  | "invalid_room"
  | "invalid_input"
  | "bad_relay_url"
  | "relay_fixed"
  | "too_many_rooms"
  | "bad_invite"
  | "not_joined"
  | "relay_refused"
  | "relay_unreachable"
  | "not_delivered"
  | "storage"
  | "stopped"
  | "no_such_member"
  | "ambiguous_member"
  | "private"
  | "internal";

/** A command's error. `relay_code` is the relay's own code when it refused. */
export interface AppError {
  code: ErrorCode;
  message: string;
  relay_code?: string;
}

/** Whether `error` is a command's error (and not, say, a sentence the page made itself). */
export function isAppError(error: unknown): error is AppError {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as AppError).code === "string" &&
    typeof (error as AppError).message === "string"
  );
}

/** The field an error is about, by code: it is marked invalid and gets the focus. */
const FIELDS: Partial<Record<ErrorCode, string>> = {
  no_name: "name",
  invalid_name: "name",
  invalid_room: "room",
  bad_invite: "invite",
  bad_relay_url: "relay",
};

/** Shows `error` in the alert `target` ("" clears it and every mark); a command's error
 * also marks the field it is about, so that a screen reader says which one to fix. */
export function showError(target: HTMLElement, error: unknown): void {
  delete target.dataset.code;
  for (const id of new Set(Object.values(FIELDS))) {
    document.getElementById(id)?.removeAttribute("aria-invalid");
  }
  if (!isAppError(error)) {
    target.textContent = String(error);
    return;
  }
  target.textContent = error.message;
  target.dataset.code = error.code;
  const id = FIELDS[error.code];
  const field = id ? document.getElementById(id) : null;
  if (field instanceof HTMLInputElement && !field.closest("[hidden]")) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}
