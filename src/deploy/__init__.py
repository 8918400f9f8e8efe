"""A trained network put to work: the model.pt format, the ONNX export and its int8 quantisation, running an ONNX file,
the model card, and the folder that holds them."""
