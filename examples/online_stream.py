"""Online learning on a data stream with spikegrad: OeSNN and e-prop as river classifiers.

Run:  python examples/online_stream.py
"""

import itertools

from river import datasets, drift, evaluate, metrics, preprocessing

from spikegrad.online import EpropClassifier, OeSNNClassifier
from spikegrad.online.streams import make_stream

# 1. OeSNN in a river pipeline, scored by river's own prequential evaluation.
model = preprocessing.StandardScaler() | OeSNNClassifier(n_fields=10, max_neurons_per_class=200)
print(
    "OeSNN on Phishing:",
    evaluate.progressive_val_score(datasets.Phishing(), model, metrics.Accuracy()),
)

# 2. The drift-aware variant: ADWIN watches the 0/1 error; on a drift each class
#    keeps only its 5 youngest neurons.
oesnn = OeSNNClassifier(drift_detector=drift.ADWIN(), drift_keep=5)
model = preprocessing.StandardScaler() | oesnn
metric = metrics.Accuracy()
for x, y in make_stream("sine")(seed=0):  # labels reverse at sample 3000
    y_pred = model.predict_one(x)
    if y_pred is not None:  # nothing to score before the first sample is learned
        metric.update(y, y_pred)
    model.learn_one(x, y)
print("OeSNN+ADWIN on Sine with a label reversal:", metric, "drift detected at", oesnn.drift_points)
print("repository sizes:", oesnn.repository_sizes())

# 3. A recurrent LIF network trained online by e-prop, one sample at a time.
model = preprocessing.StandardScaler() | EpropClassifier(n_hidden=32, n_steps=12)
stream = itertools.islice(datasets.Phishing(), 500)
print(
    "e-prop on the first 500 Phishing samples:",
    evaluate.progressive_val_score(stream, model, metrics.Accuracy()),
)
