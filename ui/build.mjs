// Copies the static files next to the compiled script: the UI has no bundler.
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
for (const file of ["index.html", "style.css"]) {
  copyFileSync(file, `dist/${file}`);
}
