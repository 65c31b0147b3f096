// The console's few lines of script: charts from the JSON each page embeds, and live progress
// from Server-Sent Events. Every page reads without it; this only draws and moves the bars.
(function () {
    'use strict';
    const colours = { blue: '#2563eb', red: '#dc2626', line: '#2f5bd3', ok: '#1f9d55', grid: '#eef0f4' };

    function dataFor(canvas) {
        const holder = document.querySelector(`script[data-chart-for="${canvas.id}"]`);
        return holder ? JSON.parse(holder.textContent) : null;
    }

    const builders = {
        durations(data) {
            return {
                data: {
                    labels: data.labels,
                    datasets: [
                        { type: 'bar', label: 'duration (s)', data: data.seconds, yAxisID: 'y', backgroundColor: 'rgba(47, 91, 211, .55)' },
                        { type: 'line', label: 'success %', data: data.ratio, yAxisID: 'ratio', borderColor: colours.ok, backgroundColor: colours.ok, spanGaps: true, tension: .25 },
                    ],
                },
                options: { scales: { y: { beginAtZero: true, title: { display: true, text: 's' } }, ratio: { position: 'right', min: 0, max: 100, grid: { display: false }, title: { display: true, text: '%' } } } },
            };
        },
        throughput(data) {
            return {
                data: { labels: data.labels, datasets: [{ type: 'bar', label: 'users/s', data: data.rate, backgroundColor: 'rgba(47, 91, 211, .6)' }] },
                options: { scales: { y: { beginAtZero: true } } },
            };
        },
        live() {
            return {
                data: { labels: [], datasets: [{ type: 'line', label: 'users/s (live)', data: [], borderColor: colours.line, tension: .25, pointRadius: 2 }] },
                options: { animation: false, scales: { y: { beginAtZero: true } } },
            };
        },
        graph(data) {
            return {
                data: {
                    labels: data.labels,
                    datasets: [{
                        type: 'line', label: 'closing amount (KRW)', data: data.amounts, borderColor: '#9aa3b5', borderWidth: 1.5, tension: .2,
                        pointRadius: 4, pointHoverRadius: 6,
                        pointBackgroundColor: data.colours.map(c => c === 'BLUE' ? colours.blue : colours.red),
                        pointBorderColor: data.colours.map(c => c === 'BLUE' ? colours.blue : colours.red),
                    }],
                },
                options: { plugins: { legend: { display: false } }, scales: { y: { ticks: { callback: v => v.toLocaleString('en') } } } },
            };
        },
    };

    function drawCharts() {
        if (typeof Chart === 'undefined') return;
        for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
            const build = builders[canvas.dataset.chart];
            if (!build) continue;
            const spec = build(dataFor(canvas) || {});
            // No animation: what is drawn is the data at once, for people and for screenshots alike.
            new Chart(canvas, { data: spec.data, options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: 'index', intersect: false } }, spec.options) });
        }
    }

    // A form on its way (cancel, run again) brings its own page with its answer; a reload now
    // would abort that navigation, and the operator would never see what came of the action.
    let submitting = false;
    document.addEventListener('submit', event => { if (!event.defaultPrevented) submitting = true; });

    function follow(element) {
        const source = new EventSource(element.dataset.live);
        const field = name => element.querySelector(`[data-field="${name}"]`);
        const set = (name, text) => { const el = field(name); if (el) el.textContent = text; };
        const liveChart = document.getElementById('live-throughput');
        source.addEventListener('progress', event => {
            const reading = JSON.parse(event.data);
            if (!reading.running) {
                source.close();
                // The run ended: show its outcome as the server renders it, once.
                if (!submitting) window.location.reload();
                return;
            }
            const bar = element.querySelector('.bar span');
            if (bar) bar.style.width = `${reading.percent}%`;
            element.querySelector('.bar')?.setAttribute('aria-valuenow', String(reading.percent));
            set('processed', reading.processed.toLocaleString('en'));
            set('expected', reading.expected.toLocaleString('en'));
            set('rate', reading.usersPerSecond.toFixed(1));
            set('eta', reading.eta ?? '–');
            set('skipped', reading.skipped.toLocaleString('en'));
            set('failed', reading.failed.toLocaleString('en'));
            element.dataset.processed = String(reading.processed);
            // The page's other figures of the running attempt (the run page's "Latest attempt") move with it.
            for (const count of document.querySelectorAll('[data-attempt-count]')) {
                const value = reading[count.dataset.attemptCount];
                if (typeof value === 'number') count.textContent = value.toLocaleString('en');
            }
            if (liveChart && typeof Chart !== 'undefined') {
                const chart = Chart.getChart(liveChart);
                // The server's time of the reading, in the batch zone and labelled as every time on the page (not the browser's zone).
                chart.data.labels.push(reading.at ?? '');
                chart.data.datasets[0].data.push(reading.usersPerSecond);
                chart.update();
            }
        });
        // The server ends the stream when there is nothing more to follow; EventSource would reconnect, which is not wanted.
        source.addEventListener('error', () => source.close());
    }

    // The bars' widths come as data: the console's Content-Security-Policy allows no inline style attribute.
    function sizeBars() {
        for (const bar of document.querySelectorAll('.bar span[data-percent]')) bar.style.width = `${bar.dataset.percent}%`;
    }

    sizeBars();
    drawCharts();
    document.querySelectorAll('[data-live]').forEach(follow);
})();
