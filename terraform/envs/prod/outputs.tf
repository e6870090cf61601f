output "platform" {
  description = "Everything a deployment needs: account, cluster, image repository, endpoints, roles."
  value       = module.platform
}
