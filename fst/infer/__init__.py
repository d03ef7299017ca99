"""Inference: model files (safetensors, ONNX) and their metadata, runners over PyTorch,
ONNX Runtime and OpenCV DNN, tiling, and stylizing images, videos and webcam frames.

Only ``model_file`` and ``export`` import torch; the ONNX path never does."""
