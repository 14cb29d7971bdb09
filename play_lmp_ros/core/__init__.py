"""
The ROS-free, torch-free runtime: layout contract, simulator, task oracle, skills and ONNX policy.

Only numpy, pybullet, transforms3d and onnxruntime are imported here, so the same code runs in
the ROS nodes, in the training tools and in plain scripts.
"""
