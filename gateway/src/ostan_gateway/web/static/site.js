// Ostan's little JavaScript: the tracking code's check digit (Verhoeff) as it is typed.
"use strict";
(function () {
  const D = [[0,1,2,3,4,5,6,7,8,9],[1,2,3,4,0,6,7,8,9,5],[2,3,4,0,1,7,8,9,5,6],[3,4,0,1,2,8,9,5,6,7],[4,0,1,2,3,9,5,6,7,8],[5,9,8,7,6,0,4,3,2,1],[6,5,9,8,7,1,0,4,3,2],[7,6,5,9,8,2,1,0,4,3],[8,7,6,5,9,3,2,1,0,4],[9,8,7,6,5,4,3,2,1,0]];
  const P = [[0,1,2,3,4,5,6,7,8,9],[1,5,7,6,2,8,3,0,9,4],[5,8,0,3,7,9,6,1,4,2],[8,9,1,6,0,4,3,5,2,7],[9,4,5,3,1,2,8,7,0,6],[4,2,8,6,5,7,3,9,0,1],[2,7,9,3,8,0,6,4,1,5],[7,0,4,6,9,1,3,2,5,8]];
  function verhoeffValid(digits) {
    let c = 0;
    const reversed = digits.split("").reverse();
    for (let i = 0; i < reversed.length; i++) c = D[c][P[i % 8][Number(reversed[i])]];
    return c === 0;
  }
  function asciiDigits(text) {
    return text.replace(/[۰-۹]/g, (d) => String(d.charCodeAt(0) - 0x06f0)).replace(/[٠-٩]/g, (d) => String(d.charCodeAt(0) - 0x0660));
  }
  const input = document.querySelector("[data-track] input[name=code]");
  if (!input) return;
  const out = document.getElementById("code-check");
  function check() {
    const code = asciiDigits(input.value).trim().toUpperCase();
    const match = /^([A-Z]{2})-(\d{4})-(\d{6,})-(\d)$/.exec(code);
    out.className = "check";
    if (!code) { out.textContent = ""; input.removeAttribute("aria-invalid"); return; }
    if (!match) { out.textContent = input.dataset.shape; input.setAttribute("aria-invalid", "true"); return; }
    const ok = verhoeffValid(match[2] + match[3] + match[4]);
    out.textContent = ok ? input.dataset.ok : input.dataset.bad;
    out.classList.add(ok ? "ok" : "bad");
    input.setAttribute("aria-invalid", ok ? "false" : "true");
  }
  input.addEventListener("input", check);
  check();
})();
