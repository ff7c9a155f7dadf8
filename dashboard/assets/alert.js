/* SafeTwin dashboard: an unacknowledged emergency makes the page flash (CSS, body.emergency) and,
 * unless muted, beep: a short two-tone alert generated with the Web Audio API (no sound file, no
 * network).  Browsers allow sound only after the page has been interacted with once. */
(function () {
  "use strict";
  let audio = null;

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
      const t0 = audio.currentTime;
      [[880, 0], [660, 0.22], [880, 0.44]].forEach(function ([freq, at]) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = "square";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, t0 + at);
        gain.gain.exponentialRampToValueAtTime(0.25, t0 + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.2);
        osc.connect(gain).connect(audio.destination);
        osc.start(t0 + at);
        osc.stop(t0 + at + 0.21);
      });
      return true;
    } catch (err) {
      return false;
    }
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.safetwin = Object.assign({}, window.dash_clientside.safetwin, {
    alert: function (emergencies, muted) {
      const active = Array.isArray(emergencies) && emergencies.length > 0;
      document.body.classList.toggle("emergency", active);
      document.body.dataset.emergencies = active ? emergencies.join(" ") : "";
      if (!active || muted) return { beeped: false, n: active ? emergencies.length : 0 };
      return { beeped: beep(), n: emergencies.length, at: Date.now() };
    },
  });
})();
