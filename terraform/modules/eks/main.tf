# The Kubernetes cluster, through the community terraform-aws-modules/eks module: managed
# nodes in private subnets, IRSA enabled (each function's role is assumed through the cluster's
# OIDC provider), control-plane logs on, secrets encrypted with a KMS key the module creates.

module "eks" {
  #checkov:skip=CKV_TF_1:A Terraform Registry source resolves versions, not commits; the release is pinned exactly instead.
  source  = "terraform-aws-modules/eks/aws"
  version = "20.24.0"

  cluster_name    = var.cluster_name
  cluster_version = var.kubernetes_version

  vpc_id     = var.vpc_id
  subnet_ids = var.subnet_ids

  cluster_endpoint_public_access       = var.endpoint_public_access
  cluster_endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  enable_irsa                              = true
  enable_cluster_creator_admin_permissions = true
  cluster_enabled_log_types                = ["api", "audit", "authenticator"]

  cluster_addons = {
    coredns                = {}
    kube-proxy             = {}
    vpc-cni                = {}
    eks-pod-identity-agent = {}
  }

  eks_managed_node_groups = {
    functions = {
      instance_types = var.node_instance_types
      min_size       = var.node_count_min
      max_size       = var.node_count_max
      desired_size   = var.node_count_min
    }
  }

  tags = var.tags
}
