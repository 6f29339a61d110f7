"""Libraries the components share; they never import pipeline or kubeflow."""
