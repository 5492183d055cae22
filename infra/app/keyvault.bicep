@description('Name of the Key Vault: 3-24 letters, digits and hyphens, unique in Azure.')
param name string

@description('Azure region of the Key Vault.')
param location string

@description('Tags put on the Key Vault.')
param tags object

@minValue(7)
@maxValue(90)
@description('Days that a deleted vault or secret stays recoverable.')
param retentionDays int

@description('Resource id of the Log Analytics workspace that receives the audit log.')
param logAnalyticsWorkspaceId string

// Contains the RS256 signing key, as a PEM secret or as a Key Vault key. RBAC mode replaces
// access policies with role assignments. Soft delete with purge protection keeps a deleted
// key recoverable for retentionDays, because FinOps environments pin its public key and a
// lost key means shipping a new one to every customer.
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: retentionDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Records every read and change of the signing key in Log Analytics.
resource auditLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: keyVault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = keyVault.name
output uri string = keyVault.properties.vaultUri
