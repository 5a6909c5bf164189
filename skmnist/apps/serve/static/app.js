// The skmnist drawing pad: draw with pointer events (mouse, pen, touch), send
// the canvas as a PNG to POST predict when a stroke ends, show the answer.
"use strict";

(() => {
  const pad = document.getElementById("pad");
  const context = pad.getContext("2d");
  const seen = document.getElementById("seen");
  const seenContext = seen.getContext("2d");
  const prediction = document.getElementById("prediction");
  const confidence = document.getElementById("confidence");
  const bars = document.getElementById("bars");
  const status = document.getElementById("status");
  const modelInfo = document.getElementById("model");

  // Wide enough that a digit drawn across most of the pad, scaled to MNIST's
  // 20x20 box, has strokes about 2 pixels wide, as MNIST's have.
  const LINE_WIDTH = 22;
  // The model's classes as JSON values (7, 7.0, true, "seven"), and their
  // names, which key the answers' probabilities ("7", "7.0", "True",
  // "seven"): JSON numbers cannot tell 7 from 7.0, the names can.
  let classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  let names = classes.map(String);
  let stroke = null; // the pointer drawing now, and where it was
  let inked = false;
  let sent = 0; // answers to older requests are dropped

  function clearPad() {
    context.fillStyle = "#000";
    context.fillRect(0, 0, pad.width, pad.height);
    seenContext.fillStyle = "#000";
    seenContext.fillRect(0, 0, seen.width, seen.height);
    inked = false;
    sent += 1;
    prediction.textContent = "";
    prediction.classList.remove("long");
    confidence.textContent = "";
    status.textContent = "";
    drawBars({});
  }

  // An answer's probability for a class name. Only the answer's own keys
  // count: a class called "constructor" or "__proto__" must not find
  // Object.prototype's.
  function probabilityOf(probabilities, name) {
    return Object.hasOwn(probabilities, name) ? probabilities[name] : 0;
  }

  function drawBars(probabilities, best = null) {
    bars.replaceChildren(
      ...names.map((label) => {
        const p = probabilityOf(probabilities, label);
        const item = document.createElement("li");
        item.dataset.label = label;
        if (label === best) item.classList.add("best");
        const name = document.createElement("span");
        name.textContent = label;
        const bar = document.createElement("span");
        bar.className = "bar";
        const fill = document.createElement("span");
        fill.className = "fill";
        fill.style.display = "block";
        fill.style.width = `${(100 * p).toFixed(1)}%`;
        bar.append(fill);
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = p.toFixed(3);
        item.append(name, bar, value);
        return item;
      }),
    );
  }

  function drawSeen(image) {
    const pixels = seenContext.createImageData(seen.width, seen.height);
    image.forEach((row, y) =>
      row.forEach((v, x) => {
        const i = 4 * (y * seen.width + x);
        pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = v;
        pixels.data[i + 3] = 255;
      }),
    );
    seenContext.putImageData(pixels, 0, 0);
  }

  function position(event) {
    // The canvas may be shown at another size than its 280x280 pixels.
    const box = pad.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * pad.width) / box.width,
      y: ((event.clientY - box.top) * pad.height) / box.height,
    };
  }

  function line(from, to) {
    context.strokeStyle = "#fff";
    context.lineWidth = LINE_WIDTH;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(to.x, to.y);
    context.stroke();
    inked = true;
  }

  pad.addEventListener("pointerdown", (event) => {
    if (stroke !== null || event.button !== 0) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    const at = position(event);
    stroke = { id: event.pointerId, at };
    line(at, at); // a dot, for a tap
  });

  pad.addEventListener("pointermove", (event) => {
    if (stroke === null || event.pointerId !== stroke.id) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const at = position(e);
      line(stroke.at, at);
      stroke.at = at;
    }
  });

  function endStroke(event) {
    if (stroke === null || event.pointerId !== stroke.id) return;
    stroke = null;
    if (inked) predict();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  function predict() {
    const request = ++sent;
    status.textContent = "Asking the model…";
    pad.toBlob(async (png) => {
      try {
        const response = await fetch("predict", {
          method: "POST",
          headers: { "Content-Type": "image/png" },
          body: png,
        });
        const answer = await response.json();
        if (request !== sent) return;
        if (!response.ok) throw new Error(answer.error || response.statusText);
        const index = classes.indexOf(answer.label);
        const label = index >= 0 ? names[index] : String(answer.label);
        prediction.textContent = label;
        prediction.classList.toggle("long", label.length > 1);
        confidence.textContent =
          `probability ${probabilityOf(answer.probabilities, label).toFixed(3)}`;
        drawBars(answer.probabilities, label);
        drawSeen(answer.image);
        status.textContent = "";
      } catch (error) {
        if (request === sent) status.textContent = `Error: ${error.message}`;
      }
    }, "image/png");
  }

  document.getElementById("clear").addEventListener("click", clearPad);

  async function describeModel() {
    try {
      const response = await fetch("model");
      const model = await response.json();
      classes = model.classes;
      names = model.class_names;
      drawBars({});
      const layers = (model.network || [])
        .filter((layer) => layer.kind === "dense" || layer.kind === "conv2d")
        .map((layer) =>
          layer.kind === "dense"
            ? `dense ${layer.units}`
            : `conv ${layer.filters}×${layer.kernel_size.join("×")}`,
        );
      modelInfo.textContent =
        `${model.name ? `${model.name}: ` : ""}${model.classifier}` +
        `${layers.length ? ` (${layers.join(" → ")})` : ""}` +
        ` · skmnist ${model.skmnist_version}`;
    } catch (error) {
      modelInfo.textContent = `Cannot describe the model: ${error.message}`;
    }
  }

  clearPad();
  describeModel();
})();
