// The plan editor's ABI-aware parameter-change fields and live previews (plain ES2020, no build step).
//
// Without JavaScript the editor works as it is: a function select or a pasted signature, and a
// JSON array of arguments. With it, choosing a function (or typing a signature) shows one labelled
// input per argument, named and typed from the compiled contract's ABI (GET /plans/abi/<artifact>/),
// which fill the JSON arguments box; "Preview change N" asks the server to encode the call exactly
// as the plan build does and shows the calldata decoded back.
(function () {
  "use strict";

  const form = document.getElementById("plan-form");
  if (!form) return;
  const abiUrl = form.dataset.abiUrl;
  const previewUrl = form.dataset.previewUrl;
  const abiCache = new Map();

  function csrfToken() {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function loadAbi(artifact) {
    if (!abiCache.has(artifact)) {
      const url = abiUrl.replace("ARTIFACT", encodeURIComponent(artifact));
      abiCache.set(
        artifact,
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then((response) => {
          if (!response.ok) throw new Error(`the ABI of ${artifact} could not be loaded (${response.status})`);
          return response.json();
        }),
      );
    }
    return abiCache.get(artifact);
  }

  // Top-level parameter types of a signature such as "f(uint256,(address,bool)[],bytes)".
  function signatureTypes(signature) {
    const open = signature.indexOf("(");
    if (open < 1 || !signature.trim().endsWith(")")) return null;
    const inner = signature.trim().slice(open + 1, -1).trim();
    if (!inner) return [];
    const types = [];
    let depth = 0;
    let current = "";
    for (const ch of inner) {
      if (ch === "(") depth += 1;
      if (ch === ")") depth -= 1;
      if (ch === "," && depth === 0) {
        types.push(current.trim());
        current = "";
      } else {
        current += ch;
      }
    }
    types.push(current.trim());
    return types.map((type) => type.split(/\s+/)[0]);
  }

  function typeLabel(input) {
    if (!input.components) return input.type;
    const inner = input.components.map(typeLabel).join(",");
    return `(${inner})${input.type.slice("tuple".length)}`;
  }

  function isComposite(type) {
    return type.endsWith("]") || type.startsWith("(") || type.startsWith("tuple");
  }

  function hintFor(type) {
    if (isComposite(type)) return "a JSON value: arrays and tuples as [ … ], integers as decimal strings";
    if (type.startsWith("uint") || type.startsWith("int")) return "a whole number (decimal digits)";
    if (type === "address") return "a checksummed address, 0x and 40 hex digits";
    if (type === "bool") return "true or false";
    if (type.startsWith("bytes")) return "0x and hex digits";
    return "text";
  }

  // Current JSON arguments (to keep what the user typed when the inputs are rebuilt).
  function currentArgs(row) {
    try {
      const parsed = JSON.parse(row.querySelector("textarea[name$=_args]").value || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (error) {
      return [];
    }
  }

  function buildInputs(row, inputs) {
    const box = row.querySelector(".abi-args");
    const index = row.dataset.row;
    const previous = currentArgs(row);
    box.replaceChildren();
    if (inputs === null) return;
    const heading = document.createElement("p");
    heading.className = "help";
    heading.textContent = inputs.length
      ? "One field per argument of the function (they fill the JSON arguments below):"
      : "This function takes no arguments.";
    box.append(heading);
    inputs.forEach((input, position) => {
      const type = typeLabel(input);
      const id = `change_${index}_arg_${position}`;
      const wrapper = document.createElement("div");
      wrapper.className = "field";
      const label = document.createElement("label");
      label.htmlFor = id;
      label.append(`${input.name} `);
      const typeSpan = document.createElement("span");
      typeSpan.className = "arg-type";
      typeSpan.textContent = `(${type})`;
      label.append(typeSpan);
      let control;
      if (type === "bool") {
        control = document.createElement("select");
        for (const value of ["false", "true"]) {
          const option = document.createElement("option");
          option.value = value;
          option.textContent = value;
          control.append(option);
        }
      } else {
        control = document.createElement("input");
        control.type = "text";
        control.spellcheck = false;
        control.className = "mono";
        control.autocomplete = "off";
      }
      control.id = id;
      control.dataset.type = type;
      const hint = document.createElement("p");
      hint.className = "help";
      hint.id = `${id}_helptext`;
      hint.textContent = hintFor(type);
      control.setAttribute("aria-describedby", hint.id);
      const old = previous[position];
      if (old !== undefined) control.value = typeof old === "string" ? old : JSON.stringify(old);
      control.addEventListener("input", () => writeArgs(row));
      control.addEventListener("change", () => writeArgs(row));
      wrapper.append(label, control, hint);
      box.append(wrapper);
    });
    writeArgs(row);
  }

  // The argument inputs → the JSON array the form submits (integers stay decimal strings).
  function writeArgs(row) {
    const controls = row.querySelectorAll(".abi-args [data-type]");
    if (!controls.length && !row.querySelector(".abi-args p")) return;
    const values = Array.from(controls, (control) => {
      const type = control.dataset.type;
      const text = control.value.trim();
      if (type === "bool") return text === "true";
      if (isComposite(type)) {
        try {
          return JSON.parse(text);
        } catch (error) {
          return text; // the server refuses it with the reason
        }
      }
      return text;
    });
    row.querySelector("textarea[name$=_args]").value = JSON.stringify(values);
  }

  async function functionChosen(row) {
    const select = row.querySelector("select[name$=_function]");
    const signatureInput = row.querySelector("input[name$=_signature]");
    const choice = select.value;
    if (!choice) {
      signatureTyped(row);
      return;
    }
    const artifact = choice.split(":")[0];
    try {
      const abi = await loadAbi(artifact);
      const entry = abi.functions.find((f) => f.choice === choice);
      if (!entry) throw new Error(`${choice} is not in the ABI of ${artifact}`);
      signatureInput.placeholder = entry.signature;
      buildInputs(row, entry.inputs);
    } catch (error) {
      showPreview(row, { error: error.message });
    }
  }

  function signatureTyped(row) {
    if (row.querySelector("select[name$=_function]").value) return;
    const types = signatureTypes(row.querySelector("input[name$=_signature]").value);
    buildInputs(row, types === null ? null : types.map((type, i) => ({ name: `argument ${i + 1}`, type })));
  }

  function showPreview(row, result) {
    const box = row.querySelector(".preview");
    box.replaceChildren();
    const card = document.createElement("div");
    card.className = result.error ? "notice bad" : "decoded";
    if (result.error) {
      card.setAttribute("role", "alert");
      card.textContent = `Not encodable: ${result.error}`;
      box.append(card);
      return;
    }
    const title = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = "Decoded preview";
    title.append(strong);
    const list = document.createElement("dl");
    const add = (term, value) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.className = "mono";
      dd.textContent = value;
      list.append(dt, dd);
    };
    add("Target", result.target);
    add("Value", `${result.value} wei`);
    add("Function", result.decoded.signature);
    result.decoded.args.forEach((arg, i) => add(`Argument ${i + 1}`, typeof arg === "string" ? arg : JSON.stringify(arg)));
    add("Calldata", result.calldata);
    card.append(title, list);
    card.dataset.testid = "decoded-preview";
    box.append(card);
  }

  async function previewRow(row) {
    writeArgs(row);
    let args;
    try {
      args = JSON.parse(row.querySelector("textarea[name$=_args]").value || "[]");
    } catch (error) {
      showPreview(row, { error: `the arguments are not JSON: ${error.message}` });
      return;
    }
    const body = {
      target: row.querySelector("input[name$=_target]").value.trim(),
      function: row.querySelector("select[name$=_function]").value,
      signature: row.querySelector("input[name$=_signature]").value.trim(),
      args,
      value: row.querySelector("input[name$=_value]").value.trim() || "0",
    };
    try {
      const response = await fetch(previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body),
      });
      const result = await response.json();
      // A change that does not encode answers 200 with {ok: false, error}: a normal preview result.
      if (response.ok && result.ok) showPreview(row, result);
      else showPreview(row, { error: result.error ? result.error.message : response.statusText });
    } catch (error) {
      showPreview(row, { error: error.message });
    }
  }

  function setUp(row) {
    row.querySelector("select[name$=_function]").addEventListener("change", () => functionChosen(row));
    row.querySelector("input[name$=_signature]").addEventListener("input", () => signatureTyped(row));
    const target = row.querySelector("input[name$=_target]");
    if (document.getElementById("deployed-contracts")) target.setAttribute("list", "deployed-contracts");
    const actions = row.querySelector(".js-only");
    actions.hidden = false;
    actions.querySelector(".preview-one").addEventListener("click", () => previewRow(row));
    if (row.querySelector("select[name$=_function]").value) functionChosen(row);
    else if (row.querySelector("input[name$=_signature]").value) signatureTyped(row);
  }

  // A budget in base units, shown in tokens beside it (exact: string arithmetic, no floats).
  function showUnits(note) {
    const input = document.getElementById(note.dataset.unitsFor);
    const decimals = note.dataset.decimals === "" ? null : Number(note.dataset.decimals);
    const update = () => {
      const text = input.value.trim();
      if (!text) {
        note.textContent = "";
      } else if (!/^[0-9]+$/.test(text)) {
        note.textContent = "Base units are whole numbers: digits only.";
      } else if (decimals === null) {
        note.textContent = `${text} base units.`;
      } else {
        const digits = text.replace(/^0+(?=\d)/, "").padStart(decimals + 1, "0");
        const whole = digits.slice(0, digits.length - decimals);
        const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
        note.textContent = `= ${whole}${fraction ? "." + fraction : ""} tokens.`;
      }
    };
    input.addEventListener("input", update);
    update();
  }

  // "Add a change": a copy of the first row, renumbered and emptied.
  function addRow() {
    const rows = form.querySelectorAll("fieldset.change");
    const count = form.querySelector("input[name=change_count]");
    const n = rows.length;
    if (!rows.length || n >= 20) return;
    const holder = document.createElement("div");
    holder.innerHTML = rows[0].outerHTML
      .replace(/change_0_/g, `change_${n}_`)
      .replace(/(change|preview|abi-args)-0"/g, `$1-${n}"`)
      .replace(/data-row="0"/, `data-row="${n}"`)
      .replace(/Change 1</, `Change ${n + 1}<`)
      .replace(/Preview change 1</, `Preview change ${n + 1}<`);
    const row = holder.firstElementChild;
    row.querySelectorAll("input, textarea").forEach((input) => {
      input.value = input.name.endsWith("_value") ? "0" : "";
      input.removeAttribute("aria-invalid");
    });
    row.querySelectorAll("select").forEach((select) => {
      select.selectedIndex = 0;
    });
    row.querySelectorAll(".field-error").forEach((error) => error.remove());
    row.querySelectorAll("[aria-describedby]").forEach((el) => {
      el.setAttribute("aria-describedby", el.getAttribute("aria-describedby").replace(/\s*\S+_error/g, "").trim());
    });
    row.querySelector(".abi-args").replaceChildren();
    row.querySelector(".preview").replaceChildren();
    rows[rows.length - 1].after(row);
    count.value = String(n + 1);
    setUp(row);
    row.querySelector("input[name$=_target]").focus();
  }

  form.querySelectorAll("fieldset.change").forEach(setUp);
  const add = document.getElementById("add-change");
  if (add) {
    add.closest(".js-only").hidden = false;
    add.addEventListener("click", addRow);
  }
  form.querySelectorAll("[data-units-for]").forEach(showUnits);
})();
