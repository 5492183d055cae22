@description('Name of the storage account: 3-24 lowercase letters and digits, unique in Azure.')
param name string

@description('Azure region of the storage account.')
param location string

@description('Tags put on the storage account.')
param tags object

@description('Name of the blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

// Host storage of the Functions runtime (blobs and queues), the deployment package, and the
// license tables (Catalog, Customers, Environments, which the app creates itself). Shared
// keys are off, so every caller signs in with Entra ID and a role on this account.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Parent of the deployment container.
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption reads the app's package from this container, where azd deploy uploads it.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
