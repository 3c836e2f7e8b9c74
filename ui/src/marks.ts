// Small marks shown beside names and rooms, each with an accessible name of its own: the
// verified mark (✓) beside a person whose key this device verified in person, and the lock
// of a private room.

/** The ✓ beside the name of a person verified in person; a screen reader says "verified". */
export function verifiedMark(): HTMLSpanElement {
  const mark = document.createElement("span");
  mark.className = "verified";
  mark.setAttribute("role", "img");
  mark.setAttribute("aria-label", "verified");
  mark.textContent = "✓";
  return mark;
}

const SVG = "http://www.w3.org/2000/svg";

/** A padlock for a private room (drawn, so that it needs no emoji font); a screen reader
 * says "private room". */
export function lockIcon(): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "lock");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "private room");
  const shackle = document.createElementNS(SVG, "path");
  shackle.setAttribute("d", "M4.5 7V5a3.5 3.5 0 0 1 7 0v2");
  shackle.setAttribute("fill", "none");
  shackle.setAttribute("stroke", "currentColor");
  shackle.setAttribute("stroke-width", "2");
  const body = document.createElementNS(SVG, "rect");
  body.setAttribute("x", "2");
  body.setAttribute("y", "7");
  body.setAttribute("width", "12");
  body.setAttribute("height", "8");
  body.setAttribute("rx", "1.5");
  body.setAttribute("fill", "currentColor");
  svg.append(shackle, body);
  return svg;
}
